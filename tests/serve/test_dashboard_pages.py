"""The dashboard's pages over HTTP (in-process, no browser): the session cookie, CSRF on every change,
roles, the New video form, errors in words. The browser tests (test_dashboard_browser.py) drive the same
pages in Chromium."""

from __future__ import annotations

import re

import pytest

from .conftest import WORKFLOW, auth

PAGES = ["/", "/new", "/templates", "/assets", "/schedules", "/usage", "/webhooks", "/jobs/x"]


def sign_in(client, secret: str, then: str = "/") -> str:
    """Sign `client` in with the form; the session's CSRF token."""
    form = client.get(f"/login?next={then}")
    value = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    done = client.post(
        "/login", data={"token": secret, "login_csrf": value, "next": then}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    return csrf_of(client.get(done.headers["location"]).text)


def form_values(html: str) -> dict[str, str]:
    """The values a browser would send for the form's variables (inputs and text areas)."""
    from html import unescape

    found = {m[0]: unescape(m[1]) for m in re.findall(r'name="(var\.[^"]+)"[^>]*?value="([^"]*)"', html)}
    found |= {m[0]: unescape(m[1]) for m in re.findall(r'name="(var\.[^"]+)"[^>]*>([^<]*)</textarea>', html)}
    return found


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def heading(html: str) -> str:
    return re.search(r"<h1>(.*?)</h1>", html, re.S).group(1).strip()


@pytest.fixture
def queued(client, token) -> str:
    return client.post("/v1/jobs", json={"workflow": WORKFLOW}, headers=auth(token("editor"))).json()["id"]


def test_an_anonymous_visitor_is_sent_to_sign_in_and_can_change_nothing(client, queued):
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"].split("?")[0]) == (303, "/login"), path
    assert (
        client.get("/jobs/x?done=1", follow_redirects=False).headers["location"]
        == "/login?next=%2Fjobs%2Fx%3Fdone%3D1"
    )
    refused = client.post(f"/jobs/{queued}/cancel", data={"csrf": "x"})
    assert refused.status_code == 401 and heading(refused.text) == "Sign in needed"
    page = client.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    assert client.get("/static/dashboard.css").status_code == 200


def test_the_token_lives_in_an_httponly_strict_cookie_never_in_a_page_or_url(client, token):
    secret = token("editor")
    form = client.get("/login")
    value = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    done = client.post("/login", data={"token": secret, "login_csrf": value}, follow_redirects=False)
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("fenta_session="))
    assert (
        "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and "Max-Age=" in cookie
    )
    assert secret not in done.headers["location"]
    for path in PAGES[:-1]:
        page = client.get(path)
        assert page.status_code in (200, 403) and secret not in page.text, path


def test_a_wrong_or_revoked_token_is_refused_in_words(client, token, settings):
    from fenta.serve.access import revoke_token

    form = client.get("/login")
    value = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    wrong = client.post("/login", data={"token": "fenta_pat_" + "A" * 49, "login_csrf": value})
    assert wrong.status_code == 401 and "not a fenta access token" in wrong.text
    secret = token("editor", name="ci")
    sign_in(client, secret)
    revoke_token(settings, secret[:18])
    gone = client.get("/")
    assert gone.status_code == 401 and "was revoked" in gone.text
    assert any(c.startswith('fenta_session=""') for c in gone.headers.get_list("set-cookie"))


def test_the_sign_in_form_needs_its_own_csrf_value(client, token):
    refused = client.post("/login", data={"token": token("editor")}, follow_redirects=False)
    assert refused.status_code == 403 and "fenta_session" not in refused.headers.get("set-cookie", "")


def test_every_change_needs_the_sessions_csrf_token_from_this_site(client, token, queued):
    csrf = sign_in(client, token("editor"))
    assert client.post(f"/jobs/{queued}/cancel").status_code == 403
    assert client.post(f"/jobs/{queued}/cancel", data={"csrf": "0" * 64}).status_code == 403
    elsewhere = client.post(
        f"/jobs/{queued}/cancel", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403 and "another site" in elsewhere.text
    assert client.get(f"/v1/jobs/{queued}", headers=auth(token("viewer"))).json()["status"] == "queued"
    done = client.post(f"/jobs/{queued}/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, f"/jobs/{queued}?done=cancelled")
    assert "Cancel requested." in client.get(done.headers["location"]).text


def test_a_viewer_sees_no_buttons_that_would_be_refused_and_is_refused_anyway(client, token, queued):
    csrf = sign_in(client, token("viewer"))
    client.post(
        "/v1/schedules",
        json={"name": "daily", "cron": "@daily", "workflow": WORKFLOW},
        headers=auth(token("editor")),
    )
    renders = client.get("/").text
    assert 'href="/new">New video</a></li>' in renders and 'class="button primary" href="/new"' not in renders
    assert f"/jobs/{queued}/cancel" not in client.get(f"/jobs/{queued}").text
    form = client.get("/new?source=starter:quickstart").text
    assert (
        "Estimated cost" in form and 'value="render"' not in form and "may look but not start renders" in form
    )
    assert "/pause" not in client.get("/schedules").text and "Run now" not in client.get("/schedules").text
    assert 'id="upload"' not in client.get("/assets").text
    assert 'href="/webhooks"' not in renders
    refused = client.post(f"/jobs/{queued}/cancel", data={"csrf": csrf})
    assert (
        refused.status_code == 403
        and heading(refused.text) == "Not allowed"
        and "viewer role" in refused.text
    )
    assert client.get("/webhooks").status_code == 403
    render = client.post("/new", data={"csrf": csrf, "source": "starter:quickstart", "action": "render"})
    assert render.status_code == 403


def test_signing_out_ends_the_session(client, token):
    csrf = sign_in(client, token("editor"))
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_token_without_jobs_goes_to_the_first_page_it_may_see_and_next_stays_on_this_site(client, token):
    form = client.get("/login")
    value = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    done = client.post(
        "/login",
        data={"token": token("viewer", scopes=["assets:read"]), "login_csrf": value},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/assets"
    client.cookies.clear()
    form = client.get("/login")
    value = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    away = client.post(
        "/login",
        data={"token": token("editor"), "login_csrf": value, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"


FOLDER_WORKFLOW = """# Typed variables.
version: 1
name: typed
vars:
  headline: Привет 🌍   # what is read aloud
  scenes: 2           # how many backgrounds
  fast: true
nodes:
  script: {type: Input.Text, params: {text: "${vars.headline}"}}
  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}
  subs: {type: Subtitle, inputs: {words: voice.words}}
  clips: {type: Input.Background, params: {style: gradient, count: "${vars.scenes}"}}
  timeline: {type: Timeline, inputs: {clips: clips.clips, voice: voice.audio, subtitles: subs.track}}
  render: {type: Render, params: {profile: 360p}, inputs: {timeline: timeline.timeline}}
"""


def test_the_form_is_made_from_the_workflows_declared_vars_and_says_what_is_wrong(client, token, settings):
    settings.workflow_folder.mkdir(parents=True)
    (settings.workflow_folder / "typed.yaml").write_text(FOLDER_WORKFLOW, encoding="utf-8")
    csrf = sign_in(client, token("editor"))
    assert "typed" in client.get("/new").text
    form = client.get("/new?source=file:typed.yaml").text
    assert 'name="var.headline" type="text" value="Привет 🌍"' in form and "what is read aloud" in form
    assert 'name="var.scenes" type="number" step="1" value="2"' in form
    assert re.search(r'type="checkbox" id="var-3" name="var.fast" checked', form)
    bad = client.post(
        "/new",
        data={
            "csrf": csrf,
            "source": "file:typed.yaml",
            "var.headline": "x",
            "var.scenes": "two",
            "action": "estimate",
        },
    )
    assert bad.status_code == 422 and "scenes: &#39;two&#39; is not a whole number" in bad.text


def test_a_render_that_spends_money_asks_to_confirm_the_amount_first(client, token):
    csrf = sign_in(client, token("editor"))
    form = client.get("/new?source=starter:ai").text
    assert "$0.11" in form and "OPENROUTER_API_KEY" in form and "missing on this box" in form
    spend = re.search(r'name="confirm" value="([^"]+)"', form).group(1)
    key = re.search(r'name="key" value="([^"]+)"', form).group(1)
    sent = {"csrf": csrf, "source": "starter:ai", "key": key, "action": "render", **form_values(form)}
    assert sent["var.topic"]
    unconfirmed = client.post("/new", data=sent)
    assert unconfirmed.status_code == 409 and "Confirm the spend" in unconfirmed.text
    assert client.post("/new", data={**sent, "confirm": "0.01"}).status_code == 409  # not the amount shown
    made = client.post("/new", data={**sent, "confirm": spend}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].startswith("/jobs/")
    again = client.post("/new", data={**sent, "confirm": spend}, follow_redirects=False)
    assert again.headers["location"] == made.headers["location"]  # a second click is the same job


def test_the_queued_job_is_the_apis_untrusted_job_with_the_forms_values(client, token):
    editor = token("editor")
    csrf = sign_in(client, editor)
    made = client.post(
        "/new",
        data={
            "csrf": csrf,
            "source": "starter:quickstart",
            "template": "square",
            "var.script": "Привет 🐙",
            "var.voice": "en-us",
            "name": "осьминог",
            "preview": "on",
            "action": "render",
        },
        follow_redirects=False,
    )
    job_id = made.headers["location"].rsplit("/", 1)[1]
    from fenta.serve.store import ServeStore

    job = client.get(f"/v1/jobs/{job_id}", headers=auth(editor)).json()
    assert job["workflow"] == "quickstart" and job["status"] == "queued"
    from fenta.policy import Policy

    store = ServeStore(client.app.state.fenta.settings)
    try:
        options = store.jobs.get_job(job_id).options
    finally:
        store.close()
    assert not Policy.from_stored(options["policy"]).trusted  # the same door as POST /v1/jobs
    assert options["vars"]["script"] == "Привет 🐙" and options["name"] == "осьминог" and options["preview"]


def test_schedules_are_paused_resumed_and_run_from_their_page(client, token):
    editor = token("editor")
    client.post(
        "/v1/schedules", json={"name": "daily", "cron": "@daily", "workflow": WORKFLOW}, headers=auth(editor)
    )
    csrf = sign_in(client, editor)
    assert (
        client.post("/schedules/daily/pause", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    )
    assert client.get("/v1/schedules/daily", headers=auth(editor)).json()["enabled"] is False
    assert "paused" in client.get("/schedules").text
    client.post("/schedules/daily/resume", data={"csrf": csrf})
    assert client.get("/v1/schedules/daily", headers=auth(editor)).json()["enabled"] is True
    ran = client.post("/schedules/daily/run", data={"csrf": csrf}, follow_redirects=False)
    assert ran.headers["location"].startswith("/jobs/")
    assert client.post("/schedules/nope/run", data={"csrf": csrf}).status_code == 404


def test_an_upload_goes_through_the_apis_init_put_and_complete(client, token, make_media):
    clip = make_media("клип.mp4", "testsrc2=s=320x240:d=1", "-pix_fmt", "yuv420p").read_bytes()
    csrf = sign_in(client, token("editor"))
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    body = {"filename": "клип.mp4", "size": len(clip), "tags": ["море"]}
    assert (
        client.post("/assets/uploads", json=body, headers={"Accept": "application/json"}).status_code == 403
    )
    made = client.post("/assets/uploads", json=body, headers=headers)
    assert made.status_code == 201 and made.json()["upload_url"].startswith(
        "http://127.0.0.1:8000/v1/assets/"
    )
    assert client.put(made.json()["upload_url"], content=clip).status_code == 200
    done = client.post(f"/assets/uploads/{made.json()['id']}/complete", headers=headers).json()
    page = client.get("/assets?tag=море").text
    assert done["asset"]["name"] in page and f"/assets/{done['asset']['id']}/thumbnail" in page
    thumb = client.get(f"/assets/{done['asset']['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


def test_pages_forbid_inline_script_and_framing_and_say_errors_in_words(client, token):
    sign_in(client, token("owner"))
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/dashboard.js" defer>']
    missing = client.get("/jobs/20990101-000000-abcdef")
    assert missing.status_code == 404 and "no job &#39;20990101-000000-abcdef&#39;" in missing.text
    odd = client.get("/usage?days=5")
    assert odd.status_code == 422 and heading(odd.text) == "Cannot do that" and "Traceback" not in odd.text
    assert client.get("/?status=sleeping").status_code == 422


def test_srt_captions_become_webvtt_for_the_players_track():
    from fenta.serve.pages.jobs_pages import _webvtt

    vtt = _webvtt("1\n00:00:00,000 --> 00:00:01,500\nПривет 🐙\n\n2\n00:00:01,500 --> 00:00:03,000\nпока\n")
    assert vtt.startswith("WEBVTT") and "00:00:00.000 --> 00:00:01.500" in vtt and "Привет 🐙" in vtt
