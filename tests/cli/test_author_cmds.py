"""`fenta new` and `fenta init` as commands: what they print, write and exit with."""

from __future__ import annotations

import json

from tests.fakes.fixtures import openrouter_fake  # noqa: F401
from tests.ops.test_compose import PROMPT, good, unknown_type


def test_new_prints_the_graph_and_the_cost_estimate_and_writes_a_file_validate_accepts(cli, openrouter_fake):
    openrouter_fake.queue_content(unknown_type(), good())
    r = cli("new", PROMPT, "-o", "hello.yaml")
    assert r.exit_code == 0, r.output
    assert len(openrouter_fake.chat_requests()) == 2
    assert "wrote hello.yaml: 3 nodes" in r.stdout and "(2 rounds," in r.stdout
    assert "└─ timeline (Timeline)  ← backdrop.clips→clips" in r.stdout
    assert "estimated cost: $0.0000 (USD)" in r.stdout
    assert "description: Post daily: fenta schedule add" in r.stdout
    assert "round 1: the answer has 1 problem(s)" in r.stderr
    v = cli("validate", "hello.yaml")
    assert v.exit_code == 0 and "hello.yaml: valid (3 nodes" in v.stdout


def test_new_exits_1_listing_the_last_rounds_problems(cli, openrouter_fake):
    openrouter_fake.queue_content(unknown_type(), unknown_type(), unknown_type())
    r = cli("new", PROMPT, "-o", "hello.yaml")
    assert r.exit_code == 1
    assert "after 3 rounds; nothing was written" in r.stderr
    assert "node 'backdrop', field 'type': unknown node type 'Input.Gradients'" in r.stderr


def test_new_without_a_key_says_which_key_and_that_init_works_offline_in_one_line(
    cli, openrouter_fake, monkeypatch
):
    monkeypatch.delenv("OPENROUTER_API_KEY")
    r = cli("new", PROMPT)
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        "error: OPENROUTER_API_KEY is not set: `fenta new` asks an LLM on OpenRouter"
        " (export it or put it in a .env file); `fenta init` writes a starter workflow offline"
    ]
    assert openrouter_fake.chat_requests() == []


def test_new_refuses_to_overwrite_with_exit_2_and_replaces_with_force(cli, openrouter_fake, tmp_path):
    (tmp_path / "workflow.yaml").write_text("mine\n")
    r = cli("new", PROMPT)
    assert (
        r.exit_code == 2
        and "workflow.yaml already exists; pass --force to replace it, or choose another -o" in r.stderr
    )
    assert (tmp_path / "workflow.yaml").read_text() == "mine\n" and openrouter_fake.chat_requests() == []
    openrouter_fake.queue_content(good())
    assert cli("new", PROMPT, "--force").exit_code == 0
    assert "hello-gradients" in (tmp_path / "workflow.yaml").read_text()


def test_new_json_reports_the_file_rounds_and_estimated_run_cost(cli, openrouter_fake):
    openrouter_fake.queue_content(good())
    r = cli("new", PROMPT, "--json")
    out = json.loads(r.stdout)
    assert out["status"] == "ok" and out["file"] == "workflow.yaml" and out["rounds"] == 1
    assert (
        out["nodes"] == ["backdrop", "timeline", "render"]
        and out["estimated_run_total"] == 0
        and out["cost"] > 0
    )


def test_new_json_failure_lists_the_problems(cli, openrouter_fake):
    openrouter_fake.queue_content(unknown_type(), unknown_type(), unknown_type())
    r = cli("new", PROMPT, "--json")
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["exit_code"] == 1
    assert out["problems"][0]["node"] == "backdrop" and "Input.Gradients" in out["problems"][0]["message"]


def test_new_with_run_renders_the_written_workflow(cli, openrouter_fake, tmp_path):
    openrouter_fake.queue_content(good())
    r = cli("new", PROMPT, "--run", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["status"] == "completed" and result["video"].endswith(".mp4")
    assert "wrote workflow.yaml" in r.stderr


def test_init_writes_a_workflow_and_env_example_and_refuses_to_overwrite(cli, tmp_path):
    r = cli("init", "shop", "--kind", "stock", "--template", "square")
    assert r.exit_code == 0, r.output
    assert "wrote shop.yaml (stock starter, template square)" in r.stdout
    assert "OPENROUTER_API_KEY=\n" in (tmp_path / ".env.example").read_text()
    assert cli("validate", "shop.yaml").exit_code == 0
    again = cli("init", "shop")
    assert (
        again.exit_code == 2
        and "shop.yaml already exists; pass --force to replace it, or choose another NAME" in again.stderr
    )
    assert cli("init", "shop", "--force").exit_code == 0
    assert "type: Input.Text" in (tmp_path / "shop.yaml").read_text()


def test_init_json_and_an_unknown_kind(cli):
    out = json.loads(cli("init", "--kind", "ai", "--json").stdout)
    assert out["workflow"] == "my-video.yaml" and out["keys"] == ["OPENROUTER_API_KEY", "KIE_API_KEY"]
    assert cli("init", "x", "--kind", "cartoon").exit_code == 2


def test_init_hints_quote_a_folder_with_spaces_so_they_can_be_pasted(cli, tmp_path):
    stock = cli("init", "shop", "--kind", "stock", "--dir", "my videos")
    assert stock.exit_code == 0 and "next: cd 'my videos' && cp .env.example .env" in stock.stdout
    offline = cli("init", "clip", "--dir", "my videos")
    assert "next: fenta run 'my videos/clip.yaml'" in offline.stdout
    assert "next: fenta run октопус.yaml" in cli("init", "октопус").stdout  # nothing to quote


def test_new_against_the_fake_by_hand_with_nothing_queued_writes_a_workflow_validate_accepts(
    cli, openrouter_fake
):
    # `python -m tests.fakes.openrouter` answers `fenta new` with a small offline workflow.
    r = cli("new", "a calm video about tides", "-o", "tides.yaml")
    assert r.exit_code == 0, r.output
    assert cli("validate", "tides.yaml").exit_code == 0


def test_a_file_in_the_way_of_the_output_folder_names_the_commands_option(cli, openrouter_fake, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    new = cli("new", PROMPT, "-o", "notes.txt/wf.yaml")
    assert (
        new.exit_code == 2
        and "notes.txt is a file, not a folder: give -o a path inside a folder" in new.stderr
    )
    init = cli("init", "clip", "--dir", "notes.txt/videos")
    assert (
        init.exit_code == 2
        and "notes.txt is a file, not a folder: give --dir a path inside a folder" in init.stderr
    )
