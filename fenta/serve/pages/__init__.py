"""The dashboard: `fenta serve`'s web pages, another face of the same API (server-rendered HTML, a little
script, no build step; every file ships in the wheel).

    /login  /                 sign in; Renders (jobs, live over SSE)
    /jobs/{id}                a job: progress, node timings, event log, attempts, error, player, files
    /new                      New video: a starter or a workflow of the box, a form of its variables,
                              the estimate and keys, Render (confirming spend)
    /templates  /assets       previews; the library with uploads
    /schedules  /usage  /webhooks

Every page authenticates the access token kept in the session cookie as the API authenticates a bearer
token, checks the same permission the matching API route checks, and does its work through the same
`Service` methods; every change also needs the session's CSRF token (`session`). A page shows only the
buttons the visitor's permissions allow.

    session         the cookie, CSRF, `page(scope)` and `change(scope)` (the dependencies of every route)
    view            templates, filters, security headers, errors as pages (`PageRoute`)
    charts          the geometry of the SVG charts
    auth_pages, jobs_pages, new_pages, library_pages, admin_pages     the routes, by area
    html/, static/  the templates, the stylesheet and the script
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["install", "STATIC", "FONTS"]

STATIC = Path(__file__).with_name("static")
#: The bundled DejaVu fonts (Cyrillic and many symbols), served to pages as a font face.
FONTS = Path(__file__).resolve().parents[2] / "assets" / "fonts"


def install(app: FastAPI) -> None:
    """Add the pages and their static files to `app` (before anything mounted at `/`)."""
    from . import admin_pages, auth_pages, jobs_pages, library_pages, new_pages

    for module in (auth_pages, jobs_pages, new_pages, library_pages, admin_pages):
        app.include_router(module.router)
    app.mount("/static/fonts", StaticFiles(directory=FONTS), name="fonts")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
