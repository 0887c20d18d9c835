"""credits, kie-callbacks."""

from __future__ import annotations

import asyncio
import time

import typer

from ..config import Settings
from ._app import app, console, emit_json, handle_errors


async def _balance(settings: Settings) -> float:
    from ..providers.kie import KieClient

    client = KieClient(settings)
    try:
        return await client.credits()
    finally:
        await client.aclose()


def _spent(settings: Settings, days: int = 30) -> dict[str, float]:
    from ..engine.store import JobStore

    if not settings.db_path.exists():
        return {"credits": 0.0, "cost": 0.0}
    store = JobStore(settings.db_path)
    try:
        since = time.time() - days * 86400
        row = {
            column: store.usage_total(since=since, provider="kie", units="credits", column=column)
            for column in ("quantity", "cost")
        }
    finally:
        store.close()
    return {"credits": float(row["quantity"]), "cost": round(float(row["cost"]), 4)}


def _prices() -> list[dict]:
    from ..pricing import credits_to_usd, kie_models

    rows = []
    for m in kie_models().values():
        if m.kind == "image":
            unit, price = "image", m.per_image
        elif m.kind == "music":
            unit, price = "request", m.per_clip  # one Suno request makes two tracks
        elif m.per_second is not None:
            unit, price = "second", m.per_second
        else:
            unit, price = "clip", m.per_clip
        rows.append(
            {
                "model": m.id,
                "kind": m.kind,
                "family": m.family,
                "unit": unit,
                "credits": price,
                "usd": credits_to_usd(price or 0),
                "resolutions": m.resolutions,
                "upgrades": m.upgrades,
                "durations": list(m.durations),
                "aspect_ratios": list(m.aspect_ratios),
                "images": m.images,
                "modes": list(m.modes),
                "edits": list(m.edits),
                "source": m.source,
                "extend": {"seconds": m.extend_seconds, "max": m.extend_max} if m.extend_max else None,
            }
        )
    return rows


def _options(r: dict) -> str:
    return ", ".join(
        filter(
            None,
            [
                "res " + "/".join(f"{k}={v:g}" for k, v in r["resolutions"].items())
                if r["resolutions"]
                else "",
                "res " + "/".join(f"{k}=+{v:g}" for k, v in r["upgrades"].items()) if r["upgrades"] else "",
                "s " + "/".join(map(str, r["durations"])) if r["durations"] else "",
                f"extend +{r['extend']['seconds']} s x{r['extend']['max']}" if r["extend"] else "",
                "edits " + "/".join(r["edits"]) if r["edits"] else "",
            ],
        )
    )


@app.command()
@handle_errors()
def credits(
    prices: bool = typer.Option(
        False,
        "--prices",
        help="List the KIE.ai models fenta knows, their prices and where each row was read (no request).",
    ),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show the KIE.ai credit balance and what fenta spent there in the last 30 days."""
    from rich.text import Text

    from ._tables import table, whole  # rich.table only for the commands that print tables

    if prices:
        rows = _prices()
        if json:
            emit_json(rows)
            return
        t = table(whole("model"), "kind", "credits", "per", "$", "options", "source")
        for r in rows:
            t.add_row(
                r["model"],
                r["kind"],
                f"{r['credits']:g}",
                r["unit"],
                f"{r['usd']:.3f}",
                _options(r),
                r["source"],
            )
        console.print(t)
        return
    settings = Settings.from_env()
    balance = asyncio.run(_balance(settings))
    spent = _spent(settings)
    if json:
        emit_json({"provider": "kie", "balance": balance, "spent_30d": spent})
        return
    t = table(show_header=False, box=None, padding=(0, 2))
    t.add_row("KIE.ai balance", f"{balance:g} credits")
    t.add_row(
        "spent (30 days)",
        Text.assemble(f"{spent['credits']:g} credits  ", (f"(${spent['cost']:.2f})", "dim")),
    )
    console.print(t)


@app.command("kie-callbacks")
@handle_errors(json_flag=None)
def kie_callbacks(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (put a public HTTPS proxy in front)."
    ),
    port: int = typer.Option(8765, "--port", help="Port to listen on (0: any free one)."),
) -> None:
    """Receive KIE.ai callbacks for workflows that set callback_url (signed when FENTA_KIE_WEBHOOK_SECRET is
    set)."""
    from rich.text import Text

    from ..bounds import whole
    from ..ops.kie_callbacks import SECRET_VAR, serve_callbacks

    port = whole(port, "--port", least=0, most=65535)
    settings = Settings.from_env()  # the environment, then .env in the working folder
    server = serve_callbacks(settings.db_path, host=host, port=port, secret=settings.kie_webhook_secret or "")
    signed = (
        "signatures checked"
        if settings.kie_webhook_secret
        else f"UNSIGNED (set {SECRET_VAR} to check signatures)"
    )
    console.print(
        Text.assemble(
            f"listening for KIE.ai callbacks on http://{host}:{server.server_address[1]}  ", (signed, "dim")
        ),
        highlight=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
