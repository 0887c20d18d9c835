"""Input.Stock against the fake Pexels: per-scene clips, no repeats, canvas-driven search, fallbacks,
credits."""

from __future__ import annotations

import json

import fenta
from fenta.config import Settings
from fenta.engine.store import JobStore
from tests.fakes.fixtures import pexels_fake  # noqa: F401

WF = """
version: 1
name: stock-test
template: karaoke-bold
overrides: {{canvas: {{width: {w}, height: {h}}}}}
nodes:
  stock:
    type: Input.Stock
    params: {params}
"""


def failure_line(result) -> str:
    """The run's error: exactly one stderr line names the failing node."""
    lines = [ln for ln in result.stderr.splitlines() if "node 'stock'" in ln]
    assert len(lines) == 1, result.stderr
    return lines[0]


def run_stock(write, params: dict, w: int = 180, h: int = 320):
    path = write("wf.yaml", WF.format(w=w, h=h, params=json.dumps(params)))
    return fenta.run(fenta.load(path), out="out")


def test_each_query_gets_its_own_clip_tagged_with_its_scene(write, pexels_fake):
    r = run_stock(write, {"queries": ["ocean waves", "city night", "forest path"]})
    assert r.status == "completed", r.error
    clips = r.outputs["stock"]["clips"]
    assert [c["scene"] for c in clips] == [0, 1, 2]
    assert all(c["kind"] == "video" and c["duration"] == 2.0 and c["width"] == 320 for c in clips)
    assert len({c["source"] for c in clips}) == 3


def test_no_clip_is_used_twice_even_for_the_same_query(write, pexels_fake):
    r = run_stock(write, {"query": "ocean waves", "count": 4})
    clips = r.outputs["stock"]["clips"]
    assert len(clips) == 4 and len({c["source"] for c in clips}) == 4
    assert len({c["path"] for c in clips}) == 4
    assert len(pexels_fake.requests_to("/videos/search")) == 1  # one page served all four


def test_orientation_and_size_come_from_the_template_canvas(write, pexels_fake):
    run_stock(write, {"queries": ["mountains"]}, w=1920, h=1080)
    (search,) = pexels_fake.requests_to("/videos/search")
    assert search.q("orientation") == "landscape" and search.q("size") == "medium"
    (media,) = pexels_fake.media_requests()
    assert (media.q("w"), media.q("h")) == ("1920", "1080")  # smallest mp4 covering 1080 short side


def test_a_query_without_results_falls_back_to_a_broader_one(write, pexels_fake):
    pexels_fake.empty_queries = {"purple flying elephant"}
    r = run_stock(write, {"queries": ["purple flying elephant"]})
    assert r.status == "completed", r.error
    assert [q.q("query") for q in pexels_fake.requests_to("/videos/search")] == [
        "purple flying elephant",
        "purple flying",
    ]


def test_a_query_too_rare_in_large_sizes_falls_back_to_any_size(write, pexels_fake):
    pexels_fake.sized_empty_queries = {"axolotl"}
    r = run_stock(write, {"queries": ["axolotl"]}, w=1080, h=1920)
    assert r.status == "completed", r.error
    searches = pexels_fake.requests_to("/videos/search")
    assert [(q.q("query"), q.q("size")) for q in searches] == [("axolotl", "medium"), ("axolotl", None)]


def test_no_results_anywhere_fails_with_one_clear_line(write, pexels_fake, cli):
    pexels_fake.empty_queries = {"zzqx blorp", "zzqx", "blorp", "nothing here"}
    path = write(
        "wf.yaml",
        WF.format(
            w=180, h=320, params=json.dumps({"queries": ["zzqx blorp"], "fallback_query": "nothing here"})
        ),
    )
    result = cli("run", str(path), "-o", "out")
    assert result.exit_code == 1
    err = failure_line(result)
    assert "'zzqx blorp'" in err and "'nothing here'" in err and "fallback_query" in err


def test_downloads_run_in_parallel(write, pexels_fake):
    pexels_fake.media_delay = 0.4
    r = run_stock(write, {"queries": ["a1", "b2", "c3"]})
    assert r.status == "completed", r.error
    starts = sorted(m.at for m in pexels_fake.media_requests())
    assert len(starts) == 3 and starts[-1] - starts[0] < 0.3  # sequential would be >= 0.8


def test_photos_become_image_clips(write, pexels_fake):
    r = run_stock(write, {"media": "photo", "queries": ["forest", "desert"]})
    clips = r.outputs["stock"]["clips"]
    assert [c["kind"] for c in clips] == ["image", "image"]
    assert pexels_fake.requests_to("/v1/search") and "?v=portrait" not in json.dumps(clips)
    assert "Photo by Photographer" in open(r.artifacts["credits"]).read()


def test_credits_file_names_every_author_and_link(write, pexels_fake):
    r = run_stock(write, {"queries": ["ocean waves", "city night"]})
    text = open(r.artifacts["credits"]).read()
    assert text.startswith("Videos provided by Pexels: https://www.pexels.com")
    for c in r.outputs["stock"]["clips"]:
        assert c["source"] in text
    assert text.count("on Pexels:") == 2 and "https://www.pexels.com/@author" in text


def test_usage_and_the_remaining_rate_limit_are_recorded(write, pexels_fake, cli):
    run_stock(write, {"queries": ["ocean waves", "city night"]})
    store = JobStore(Settings.from_env().db_path)
    rows = list(
        store.db.query(
            "SELECT units, COUNT(*) n, SUM(quantity) q FROM usage_records WHERE provider='pexels'"
            " GROUP BY units ORDER BY units"
        )
    )
    store.close()
    assert rows[0]["units"] == "bytes" and rows[0]["n"] == 2 and rows[0]["q"] > 2000
    assert rows[1]["units"] == "requests" and rows[1]["n"] == 2
    doctor = json.loads(cli("doctor", "--json").stdout)
    assert doctor["rate_limits"]["pexels"]["remaining"] == "198"
    assert "pexels requests left" in cli("doctor").stdout


def test_a_refused_key_ends_the_run_with_exit_1_and_no_key_in_the_message(
    write, pexels_fake, cli, monkeypatch
):
    monkeypatch.setenv("PEXELS_API_KEY", "bad-pexels-key-00000")
    path = write("wf.yaml", WF.format(w=180, h=320, params=json.dumps({"queries": ["sea"]})))
    result = cli("run", str(path), "-o", "out")
    assert result.exit_code == 1
    assert "refused the key" in failure_line(result)
    assert "bad-pexels-key" not in result.stderr + result.stdout


def test_a_truncated_download_is_recovered(write, pexels_fake):
    pexels_fake.fault("truncated", 1, path_contains="/media/")
    r = run_stock(write, {"queries": ["sea"]})
    assert r.status == "completed", r.error
    assert len(pexels_fake.media_requests()) == 2
