"""KIE callbacks: signatures verified, bad ones rejected, the same task row updated once, polling
ends early."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from fenta.config import Settings
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.engine.store import JobStore
from fenta.ops.kie_callbacks import handle_callback, serve_callbacks, sign, verify_signature
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

SECRET = "whsec-test"


def test_signature_is_base64_hmac_sha256_of_task_id_dot_timestamp():
    import base64
    import hashlib
    import hmac

    want = base64.b64encode(hmac.new(b"k", b"task_1.1700000000", hashlib.sha256).digest()).decode()
    assert sign("task_1", "1700000000", "k") == want
    assert verify_signature("task_1", "1700000000", want, "k")
    assert not verify_signature("task_2", "1700000000", want, "k")
    assert not verify_signature("task_1", "1700000001", want, "k")
    assert not verify_signature("task_1", None, want, "k")


def _store_with_task(family: str, task_id: str) -> JobStore:
    store = JobStore(Settings.from_env().db_path)
    store.save_provider_task(
        key="k1", provider="kie", task_id=task_id, status="running", result={"family": family, "model": "m"}
    )
    return store


@pytest.mark.parametrize(
    "family,body",
    [
        (
            "market",
            {
                "code": 200,
                "msg": "ok",
                "data": {
                    "taskId": "t9",
                    "state": "success",
                    "resultJson": '{"resultUrls":["https://f/a.png"]}',
                },
            },
        ),
        (
            "4o-image",
            {
                "code": 200,
                "msg": "success",
                "data": {"taskId": "t9", "info": {"result_urls": ["https://f/a.png"]}},
            },
        ),
        (
            "flux-kontext",
            {
                "code": 200,
                "msg": "ok",
                "data": {"taskId": "t9", "info": {"resultImageUrl": "https://f/a.png"}},
            },
        ),
        (
            "veo",
            {
                "code": 200,
                "msg": "ok",
                "data": {"taskId": "t9", "info": {"resultUrls": '["https://f/a.png"]'}},
            },
        ),
        ("runway", {"code": 200, "msg": "ok", "data": {"task_id": "t9", "video_url": "https://f/a.png"}}),
    ],
)
def test_a_signed_callback_of_each_family_finishes_the_stored_task(family, body):
    store = _store_with_task(family, "t9")
    ts = "1700000000"
    code, answer = handle_callback(
        store,
        {"x-webhook-timestamp": ts, "X-Webhook-Signature": sign("t9", ts, SECRET)},
        json.dumps(body).encode(),
        secret=SECRET,
    )
    assert (code, answer["status"]) == (200, "succeeded")
    row = store.provider_task("k1")
    assert (
        row["status"] == "succeeded"
        and row["result"]["urls"] == ["https://f/a.png"]
        and row["result"]["family"] == family
    )


def test_a_bad_or_missing_signature_is_rejected_and_changes_nothing():
    store = _store_with_task("market", "t9")
    body = json.dumps(
        {"code": 200, "data": {"taskId": "t9", "state": "success", "resultJson": '{"resultUrls":["u"]}'}}
    ).encode()
    assert (
        handle_callback(
            store,
            {"X-Webhook-Timestamp": "1", "X-Webhook-Signature": sign("t9", "1", "wrong")},
            body,
            secret=SECRET,
        )[0]
        == 401
    )
    assert handle_callback(store, {}, body, secret=SECRET)[0] == 401
    assert store.provider_task("k1")["status"] == "running"


def test_a_repeated_callback_is_idempotent_and_a_failure_after_success_is_ignored():
    store = _store_with_task("market", "t9")
    ok = json.dumps(
        {"code": 200, "data": {"taskId": "t9", "state": "success", "resultJson": '{"resultUrls":["u"]}'}}
    ).encode()
    bad = json.dumps(
        {
            "code": 501,
            "msg": "Playground task failed.",
            "data": {"taskId": "t9", "state": "fail", "failMsg": "x"},
        }
    ).encode()
    assert handle_callback(store, {}, ok)[0] == 200
    code, answer = handle_callback(store, {}, ok)
    assert code == 200 and answer["note"] == "already recorded"
    handle_callback(store, {}, bad)
    assert store.provider_task("k1")["status"] == "succeeded"


def test_unknown_tasks_and_non_json_bodies_are_refused():
    store = _store_with_task("market", "t9")
    assert handle_callback(store, {}, b"not json")[0] == 400
    assert handle_callback(store, {}, json.dumps({"code": 200, "data": {}}).encode())[0] == 400
    assert (
        handle_callback(store, {}, json.dumps({"code": 200, "data": {"taskId": "nope"}}).encode())[0] == 404
    )


def test_a_callback_through_the_receiver_ends_polling_of_the_same_task(fake_kie, write, fenta_home):
    fake_kie.next_outcomes = ["never"]
    fake_kie.webhook_secret = SECRET
    server = serve_callbacks(Settings.from_env().db_path, port=0, secret=SECRET)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hooks/kie"
    answers: list[httpx.Response] = []

    def deliver():  # KIE finishes the task and calls back while fenta is polling
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            fake_kie.tasks and fake_kie.polls_of(next(iter(fake_kie.tasks)))
        ):
            time.sleep(0.02)
        answers.append(fake_kie.send_callback(next(iter(fake_kie.tasks))))

    t = threading.Thread(target=deliver)
    t.start()
    try:
        wf = load(
            write(
                "wf.yaml",
                f"""
version: 1
name: cb
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  gen:
    type: AI.Image
    params: {{model: flux-kontext-pro, prompt: "a fox", callback_url: "{hook}", timeout: 20}}
""",
            )
        )
        res = run(wf, out="out")
        t.join(20)
    finally:
        server.shutdown()
        server.server_close()
    assert res.status == "completed", (res.error, [(a.status_code, a.text) for a in answers])
    assert answers[0].status_code == 200
    assert fake_kie.creates[0].json()["callBackUrl"] == hook
    row = next(
        iter(JobStore(Settings.from_env().db_path).db.query("select status, result from provider_tasks"))
    )
    assert row["status"] == "succeeded" and json.loads(row["result"])["via"] == "callback"


def test_a_slower_poller_cannot_undo_what_a_callback_recorded():
    store = _store_with_task("market", "t9")
    body = json.dumps(
        {"code": 200, "data": {"taskId": "t9", "state": "success", "resultJson": '{"resultUrls":["u"]}'}}
    ).encode()
    assert handle_callback(store, {}, body)[0] == 200
    store.update_provider_task("k1", status="running", keep_final=True)  # what the poll loop writes
    assert store.provider_task("k1")["status"] == "succeeded"


def _market_success(task_id: str) -> bytes:
    return json.dumps(
        {
            "code": 200,
            "msg": "ok",
            "data": {
                "taskId": task_id,
                "state": "success",
                "resultJson": json.dumps({"resultUrls": [f"https://f/{task_id}.png"]}),
            },
        }
    ).encode()


def test_sixteen_concurrent_callback_senders_get_every_one_of_320_updates_applied():
    db_path = Settings.from_env().db_path
    store = JobStore(db_path)
    task_ids = [f"t{i:03d}" for i in range(320)]
    for tid in task_ids:
        store.save_provider_task(
            key=f"k-{tid}",
            provider="kie",
            task_id=tid,
            status="running",
            result={"family": "market", "model": "m"},
        )
    server = serve_callbacks(db_path, port=0, secret=SECRET)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/kie"
    codes: list[int | str] = []
    start = threading.Barrier(16)

    def sender(ids: list[str]) -> None:  # one keep-alive connection each: 16 receiver threads at once
        with httpx.Client(timeout=60) as client:
            start.wait()
            for tid in ids:
                ts = str(int(time.time()))
                try:
                    r = client.post(
                        url,
                        content=_market_success(tid),
                        headers={"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sign(tid, ts, SECRET)},
                    )
                    codes.append(r.status_code)
                except httpx.HTTPError as e:  # the receiver dropped the connection
                    codes.append(type(e).__name__)

    threads = [threading.Thread(target=sender, args=(task_ids[i::16],)) for i in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        server.shutdown()
        server.server_close()
    assert codes.count(200) == 320, {c: codes.count(c) for c in set(codes)}
    rows = list(store.db.query("SELECT task_id, status, result FROM provider_tasks"))
    assert sorted(r["task_id"] for r in rows if r["status"] == "succeeded") == task_ids
    assert all(json.loads(r["result"])["urls"] == [f"https://f/{r['task_id']}.png"] for r in rows)


def test_the_receiver_takes_the_secret_from_dotenv_and_refuses_an_unsigned_callback(tmp_path, monkeypatch):
    monkeypatch.delenv("FENTA_KIE_WEBHOOK_SECRET", raising=False)
    (tmp_path / ".env").write_text(f"FENTA_KIE_WEBHOOK_SECRET={SECRET}\n")  # tmp_path is the working folder
    store = _store_with_task("market", "t9")
    server = serve_callbacks(store.path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = httpx.post(
            f"http://127.0.0.1:{server.server_address[1]}/hooks/kie",
            content=_market_success("t9"),
            timeout=10,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert r.status_code == 401
    assert store.provider_task("k1")["status"] == "running"
