"""Configuration: every setting comes from `Settings` (environment, then `.env`), and only fenta/config.py
reads the environment."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from fenta.config import Settings

PACKAGE = Path(__file__).resolve().parent.parent / "fenta"

#: Modules that still read the environment themselves, each with the reason. Keep this empty: a module
#: that needs a setting takes a `Settings` (add a field in fenta/config.py) instead.
KNOWN_EXCEPTIONS: dict[str, str] = {}


def _env_reads(path: Path) -> list[str]:
    """`os.environ`, `os.getenv` (and `from os import environ/getenv`) in one module, as 'line: code'."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        hit = False
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "environb", "getenv", "getenvb"):
            hit = isinstance(node.value, ast.Name) and node.value.id in ("os", "_os", "posix")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "posix"):
            hit = any(a.name in ("environ", "environb", "getenv", "getenvb") for a in node.names)
        if hit:
            found.append(f"{node.lineno}: {ast.get_source_segment(path.read_text(encoding='utf-8'), node)}")
    return found


def test_only_config_reads_the_environment():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel == "fenta/config.py" or rel in KNOWN_EXCEPTIONS:
            continue
        reads = _env_reads(path)
        if reads:
            offenders[rel] = reads
    assert not offenders, f"read configuration through fenta.config.Settings instead: {offenders}"


def test_known_exceptions_are_still_needed():
    # When a listed module stops reading the environment, it must come off the list.
    stale = [
        rel
        for rel in KNOWN_EXCEPTIONS
        if not (PACKAGE.parent / rel).is_file() or not _env_reads(PACKAGE.parent / rel)
    ]
    assert not stale, f"no longer read the environment; remove from KNOWN_EXCEPTIONS: {stale}"


def test_the_scan_finds_each_way_of_reading_the_environment(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "import os\nfrom os import getenv\n"
        "a = os.environ.get('X')\nb = os.getenv('Y')\nc = os.environ['Z']\nd = os.getpid()\n"
    )
    assert sorted(int(r.split(":")[0]) for r in _env_reads(src)) == [2, 3, 4, 5]


def test_defaults_when_nothing_is_set(tmp_path):
    s = Settings.from_env({"FENTA_HOME": str(tmp_path)}, cwd=tmp_path)
    assert (s.models, s.kie_upload_url, s.backoff_scale, s.kie_time_scale, s.debug) == (
        {},
        None,
        1.0,
        1.0,
        False,
    )


def test_every_setting_is_read_from_the_environment(tmp_path):
    env = {
        "FENTA_HOME": str(tmp_path),
        "FENTA_MODEL_STRONG": " google/gemini-2.5-pro ",
        "FENTA_MODEL_WEAK": "openai/gpt-4o",
        "FENTA_KIE_UPLOAD_URL": "https://upload.example/",
        "FENTA_BACKOFF_SCALE": "0.01",
        "FENTA_KIE_TIME_SCALE": "0.5",
        "FENTA_DEBUG": "1",
    }
    s = Settings.from_env(env, cwd=tmp_path)
    assert s.models == {"strong": "google/gemini-2.5-pro", "weak": "openai/gpt-4o"}
    assert s.kie_upload_url == "https://upload.example"
    assert (s.backoff_scale, s.kie_time_scale, s.debug) == (0.01, 0.5, True)


def test_settings_come_from_dotenv_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text(
        "FENTA_MODEL_STRONG=from/dotenv\nFENTA_MODEL_WEAK=weak/dotenv\nFENTA_KIE_TIME_SCALE=0.25\n"
    )
    s = Settings.from_env({"FENTA_HOME": str(tmp_path), "FENTA_MODEL_WEAK": "weak/env"}, cwd=tmp_path)
    assert s.models == {"strong": "from/dotenv", "weak": "weak/env"} and s.kie_time_scale == 0.25


@pytest.mark.parametrize("value,expected", [("", 1.0), ("junk", 1.0), ("-2", 0.0), ("0", 0.0), ("3", 3.0)])
def test_scales_are_lenient(tmp_path, value, expected):
    s = Settings.from_env(
        {"FENTA_HOME": str(tmp_path), "FENTA_BACKOFF_SCALE": value, "FENTA_KIE_TIME_SCALE": value},
        cwd=tmp_path,
    )
    assert s.backoff_scale == expected and s.kie_time_scale == expected


def test_consumers_take_their_values_from_settings(tmp_path):
    from fenta.nodes.ai_media import poll_interval
    from fenta.providers.kie import KieClient, time_scale
    from fenta.providers.openrouter_models import DEFAULT_MODELS, resolve_model

    s = Settings(
        home=tmp_path,
        urls={"kie": "https://api.kie.ai"},
        models={"strong": "x/strong"},
        kie_time_scale=0.1,
        kie_upload_url="https://up.example",
        backoff_scale=0.5,
    )
    assert resolve_model("strong", s) == "x/strong" and resolve_model("weak", s) == DEFAULT_MODELS["weak"]
    assert resolve_model("vendor/explicit", s) == "vendor/explicit"
    assert time_scale(s) == 0.1 and poll_interval(0, s.kie_time_scale) == 0.25
    client = KieClient(s)
    asyncio.run(client.aclose())
    assert (
        client.upload_url == "https://up.example"
        and client.retry.scale == 0.5
        and client.retry.base == pytest.approx(0.1)
    )
