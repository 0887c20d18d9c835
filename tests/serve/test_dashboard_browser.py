"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright with
`executable_path`; no browser is ever downloaded): sign in, start the quickstart from the form, watch it
render live, play it, cancel another job, a Viewer's page, a forged change, an upload, and a screenshot of
every page at phone and desktop sizes (saved under tests/serve/.screenshots/, printed at the end).

`.ci/run` installs Chromium with apt-get when it runs as root; without one these tests skip, saying why.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import REPO, WORKFLOW, auth

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install '.[test]')"
)
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).is_file()), None)
if CHROMIUM is None:
    pytest.skip(
        "no Chromium to drive: apt-get install chromium (.ci/run installs it when it runs as root)",
        allow_module_level=True,
    )

#: The workplace's flags for a headless Chromium with no network (and video that plays without a click).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SHOTS = REPO / "tests" / "serve" / ".screenshots"
SIZES = {"phone": (390, 844), "desktop": (1440, 900)}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module (a page per test)."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()
    if SHOTS.is_dir():
        print(f"\ndashboard screenshots: {SHOTS}")


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="en-GB", timezone_id="Asia/Tokyo"
    )
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def sign_in(page: Any, url: str, secret: str, then: str = "/") -> None:
    page.goto(url + then)
    assert page.url.startswith(url + "/login"), page.url  # anonymous: sent to sign in first
    page.fill("#token", secret)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(url + then)


def shoot(page: Any, name: str) -> None:
    """The current page at both sizes, whole."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(100)
        page.screenshot(path=str(SHOTS / f"{name}-{size}-{w}x{h}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def _progress(page: Any) -> int:
    return int(page.eval_on_selector("[data-progress]", "e => e.value"))


def test_a_person_signs_in_renders_the_quickstart_watches_it_finish_and_plays_it(page, live, token, workers):
    srv = live()
    workers(1)
    sign_in(page, srv.url, token("editor", name="Анна 🎬"))
    assert page.locator(".whoname").inner_text().startswith("Анна 🎬")
    renders = page.context.new_page()  # a second tab on Renders: the new job appears there and finishes live
    renders.goto(srv.url + "/")
    page.click("a.button:has-text('New video')")
    page.click("button:has-text('Use quickstart')")
    page.fill("textarea[name='var.script']", "Octopuses have three hearts.")
    page.click("summary:has-text('More options')")
    page.check("input[name='preview']")  # the 360p draft: seconds, not a minute
    assert page.locator("[data-cost]").inner_text() == "$0.00"
    page.click("button:has-text('Render')")
    page.wait_for_url(f"{srv.url}/jobs/*")
    page.evaluate("window.stayedOnThisPage = true")
    seen = [_progress(page)]
    deadline = time.monotonic() + 90
    while seen[-1] < 100 and time.monotonic() < deadline:
        page.wait_for_timeout(40)
        if (value := _progress(page)) != seen[-1]:
            seen.append(value)
    assert seen[0] < 100 and seen[-1] == 100 and len(seen) >= 3, seen  # it moved, live, to the end
    assert page.evaluate("window.stayedOnThisPage") is True  # no reload
    page.wait_for_selector("[data-status]:has-text('completed')")
    video = page.wait_for_selector("video")
    page.wait_for_function("() => document.querySelector('video').duration > 0")
    page.evaluate(
        "async () => { const v = document.querySelector('video'); v.muted = true; await v.play(); }"
    )
    page.wait_for_function("() => document.querySelector('video').currentTime > 0")
    assert page.evaluate("() => document.querySelector('video').duration") > 0.5
    page.evaluate("() => { document.querySelector('video').textTracks[0].mode = 'showing'; }")  # CC on
    cues = page.wait_for_function(
        "() => { const t = document.querySelector('video').textTracks[0]; return t.cues && t.cues.length }"
    )
    assert cues.json_value() >= 1  # the .srt plays as a <track> (served as WebVTT)
    assert video.get_attribute("poster")  # the thumbnail
    assert page.locator(".gantt-row").count() >= 5 and page.locator("text=job.completed").count() == 1
    assert "Asia/Tokyo" in page.locator("[data-tz]").inner_text()
    created = page.locator(".facts time").first
    local = dt.datetime.fromisoformat(created.get_attribute("datetime").replace("Z", "+00:00"))
    assert local.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") in created.inner_text()  # viewer's zone
    shoot(page, "job-completed")
    row = renders.locator(f"tr[data-job-id='{page.url.rsplit('/', 1)[1]}']")
    row.locator("[data-status]:has-text('completed')").wait_for()
    assert row.locator("[data-pct]").inner_text() == "100 %" and renders.locator(".empty-row").count() == 0


def test_a_second_job_is_cancelled_from_its_page(page, live, token, client):
    srv = live()
    editor = token("editor")
    queued = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=auth(editor)).json()
    sign_in(page, srv.url, editor, then=f"/jobs/{queued['id']}")
    assert page.locator("[data-status]").inner_text() == "queued"
    page.click("button:has-text('Cancel')")
    page.wait_for_selector("text=Cancel requested.")
    assert page.locator("[data-status]").inner_text() == "cancelled"
    assert (
        page.locator("button:has-text('Retry')").count() == 1
        and page.locator("button:has-text('Cancel')").count() == 0
    )
    assert client.get(f"/v1/jobs/{queued['id']}", headers=auth(editor)).json()["status"] == "cancelled"


def test_a_viewer_sees_no_render_or_cancel_buttons_and_a_forged_change_is_refused(page, live, token, client):
    srv = live()
    queued = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=auth(token("editor"))).json()
    sign_in(page, srv.url, token("viewer", name="viewer"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"  # keyboard first stop
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")  # then straight into the page
    assert page.locator("a:has-text('New video')").count() == 1  # the nav: viewers may look at the form
    assert page.locator("a.button:has-text('New video')").count() == 0
    page.goto(f"{srv.url}/new?source=starter:quickstart")
    assert page.locator("text=Estimated cost").count() == 1
    assert page.locator("button:has-text('Render')").count() == 0
    page.goto(f"{srv.url}/jobs/{queued['id']}")
    assert page.locator("button:has-text('Cancel')").count() == 0
    assert page.locator("nav a:has-text('Webhooks')").count() == 0
    forged = page.evaluate(
        """async (id) => (await fetch(`/jobs/${id}/cancel`, {method: 'POST',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=forged'})).status""",
        queued["id"],
    )
    assert forged == 403
    shoot(page, "job-queued-viewer")
    page.goto(f"{srv.url}/webhooks")
    assert page.locator("h1").inner_text() == "Not allowed" and "viewer role" in page.content()
    shoot(page, "error-403")
    assert client.get(f"/v1/jobs/{queued['id']}", headers=auth(token("viewer"))).json()["status"] == "queued"


def test_a_change_without_the_csrf_token_or_from_another_site_is_refused(page, live, token, client):
    srv = live()
    editor = token("editor")
    queued = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=auth(editor)).json()
    sign_in(page, srv.url, editor)
    for body in ("", "csrf=forged"):  # the session's cookie goes along; the token in the form does not match
        status = page.evaluate(
            """async ([id, body]) => (await fetch(`/jobs/${id}/cancel`, {method: 'POST',
                 headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body})).status""",
            [queued["id"], body],
        )
        assert status == 403, body
    # Another site's page (here: one with no origin at all) posts a form to the box in the same browser.
    target = f"{srv.url}/jobs/{queued['id']}/cancel"
    page.set_content(f'<form method="post" action="{target}"><button>Win a prize</button></form>')
    page.click("button")
    page.wait_for_load_state()
    assert "Sign in needed" in page.content() or "Not allowed" in page.content()
    assert client.get(f"/v1/jobs/{queued['id']}", headers=auth(editor)).json()["status"] == "queued"


def test_an_uploaded_asset_appears_with_its_thumbnail(page, live, token, make_media):
    srv = live()
    clip = make_media("клип.mp4", "testsrc2=s=320x240:d=1", "-pix_fmt", "yuv420p")
    sign_in(page, srv.url, token("editor"), then="/assets")
    page.set_input_files("#upload-file", str(clip))
    page.fill("#upload-tags", "море intro")
    page.click("button:has-text('Upload')")
    page.wait_for_url(f"{srv.url}/assets?uploaded=*")
    card = page.locator(".asset").first
    assert card.locator("h2").inner_text() == "клип.mp4"
    page.wait_for_function(
        "() => { const i = document.querySelector('.asset img.thumb'); return i && i.naturalWidth > 0 }"
    )
    assert card.locator(".tag").all_inner_texts() == ["intro", "море"]
    card.locator("summary").click()
    assert card.locator("dd:has-text('upload')").count() >= 1  # provenance


def _seed(settings: Any, client: Any, owner: str, clip: Path) -> None:
    """What the pages show: a schedule, quotas, a webhook receiver with a delivered and a failed delivery,
    usage over a week, an uploaded asset, a workflow file, and the template previews (the docs' contact
    sheets with a one-second sample, so the page does not render four previews on this machine)."""
    import subprocess

    from fenta.media.ffmpeg import ffmpeg_exe
    from fenta.ops.webhooks import sync_outbox
    from fenta.serve.store import ServeStore
    from fenta.template import list_templates

    h = auth(owner)
    made = client.post(
        "/v1/schedules",
        json={
            "name": "morning-news",
            "cron": "0 9 * * *",
            "tz": "Europe/Berlin",
            "workflow": WORKFLOW,
            "vars": {"script": "Доброе утро 🌅"},
        },
        headers=h,
    )
    assert made.status_code == 201, made.text
    assert client.put("/v1/quotas/jobs", json={"limit": 10, "per": "day"}, headers=h).status_code == 200
    assert client.put("/v1/quotas/cost_usd", json={"limit": 5, "per": "month"}, headers=h).status_code == 200
    hook = {"url": "https://hooks.example.com/fenta", "events": ["job.queued"]}
    assert client.post("/v1/webhooks", json=hook, headers=h).status_code == 201
    for _ in range(2):
        client.post("/v1/jobs", json={"workflow": WORKFLOW, "name": "рыбы"}, headers=h)
    up = client.post(
        "/v1/assets/uploads",
        json={"filename": clip.name, "size": clip.stat().st_size, "tags": ["море", "intro"]},
        headers=h,
    ).json()
    client.put(up["upload_url"], content=clip.read_bytes())
    assert client.post(up["complete_url"], headers=h).status_code == 200
    store = ServeStore(settings)
    try:
        sync_outbox(store.jobs)
        first = store.conn.execute("SELECT MIN(id) FROM webhook_deliveries").fetchone()[0]
        store.conn.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = 1, last_status = 204"
        )
        store.conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', attempts = 6, last_status = 500, "
            "last_error = 'the receiver answered 500 six times' WHERE id = ?",
            (first,),
        )
        now = time.time()
        for day, (minutes, cost) in enumerate([(0.5, 0.0), (1.2, 0.02), (0.0, 0.35), (2.0, 0.1), (0.8, 0.0)]):
            at = now - day * 86400
            store.conn.execute(
                "INSERT INTO usage_records (provider, units, quantity, cost, created_at) "
                "VALUES ('fenta', 'render_minutes', ?, 0, ?)",
                (minutes, at),
            )
            store.conn.execute(
                "INSERT INTO usage_records (provider, model, units, quantity, cost, created_at) "
                "VALUES ('openrouter', 'm', 'tokens', 900, ?, ?)",
                (cost, at),
            )
    finally:
        store.close()
    settings.workflow_folder.mkdir(parents=True, exist_ok=True)
    (settings.workflow_folder / "weekly.yaml").write_text(
        "# Weekly news: a headline read aloud.\n" + json.dumps(WORKFLOW, ensure_ascii=False), encoding="utf-8"
    )
    folder = settings.home / "previews" / "api"
    folder.mkdir(parents=True, exist_ok=True)
    for name in list_templates():
        shutil.copy(REPO / "docs" / "templates" / f"{name}.png", folder / f"{name}.png")
        subprocess.run(
            [
                ffmpeg_exe(),
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=s=180x320:d=1",
                "-pix_fmt",
                "yuv420p",
                str(folder / f"{name}.mp4"),
            ],
            check=True,
        )


def test_every_page_at_phone_and_desktop_sizes(page, live, token, client, settings, make_media):
    srv = live()
    owner = token("owner", name="Анна 🎬")
    _seed(settings, client, owner, make_media("море.mp4", "testsrc2=s=320x240:d=1", "-pix_fmt", "yuv420p"))
    sign_in(page, srv.url, owner)
    job = client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=auth(owner)).json()
    for name, path in [
        ("renders", "/"),
        ("new", "/new"),
        ("new-quickstart", "/new?source=starter:quickstart"),
        ("new-file", "/new?source=file:weekly.yaml"),
        ("templates", "/templates"),
        ("assets", "/assets"),
        ("schedules", "/schedules"),
        ("usage", "/usage"),
        ("webhooks", "/webhooks"),
        ("job-queued", f"/jobs/{job['id']}"),
        ("error-404", "/jobs/no-such-job"),
    ]:
        page.goto(srv.url + path)
        page.wait_for_load_state("load")
        assert page.locator("h1").count() == 1, path
        shoot(page, name)
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{srv.url}/login")
    shoot(page, "login")
    page.goto(srv.url + "/usage")
    assert page.url.startswith(f"{srv.url}/login")
