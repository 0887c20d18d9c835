"""Asset uploads (init, one-time PUT, complete: probed and thumbnailed) and the library search."""

from __future__ import annotations

import pytest

from .conftest import auth


@pytest.fixture
def clip(make_media):
    return make_media("clip.mp4", "testsrc2=s=320x240:d=1", "-pix_fmt", "yuv420p").read_bytes()


def _start(client, headers, data: bytes, name: str = "intro.mp4", tags=("intro",)):
    r = client.post(
        "/v1/assets/uploads", json={"filename": name, "size": len(data), "tags": list(tags)}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_an_upload_becomes_a_probed_thumbnailed_library_asset(client, token, clip):
    headers = auth(token("editor"))
    up = _start(client, headers, clip)
    assert up["state"] == "pending" and "secret=" in up["upload_url"]
    put = client.put(
        up["upload_url"], content=clip, headers={"content-type": "application/octet-stream"}
    )  # no token needed
    assert put.status_code == 200 and put.json()["state"] == "uploaded"
    done = client.post(up["complete_url"], headers=headers)
    assert done.status_code == 200, done.text
    asset = done.json()["asset"]
    assert (
        asset["kind"] == "video"
        and asset["tags"] == ["intro"]
        and asset["name"] == "intro.mp4"
        and asset["width"] == 320
    )
    thumb = client.get(asset["thumbnail_url"], headers=headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    found = client.get("/v1/assets", params={"q": "intro", "kind": "video"}, headers=headers).json()["items"]
    assert [a["id"] for a in found] == [asset["id"]]
    assert client.get(f"/v1/assets/{asset['id']}", headers=headers).json()["sha256"] == asset["sha256"]


def test_an_asset_says_where_it_came_from(client, token, clip):
    headers = auth(token("editor", name="ci"))
    up = _start(client, headers, clip)
    client.put(up["upload_url"], content=clip)
    asset = client.post(up["complete_url"], headers=headers).json()["asset"]
    shown = client.get(f"/v1/assets/{asset['id']}", headers=headers).json()
    assert shown["origin"] == "upload"
    assert shown["provenance"]["upload"] == up["id"] and shown["provenance"]["token"].startswith("fenta_pat_")


def test_the_upload_url_works_once_and_only_with_its_secret(client, token, clip):
    headers = auth(token("editor"))
    up = _start(client, headers, clip)
    wrong = client.put(up["upload_url"].split("secret=")[0] + "secret=nope", content=clip)
    assert wrong.status_code == 403 and wrong.headers["content-type"] == "application/problem+json"
    assert client.put(up["upload_url"], content=clip).status_code == 200
    again = client.put(up["upload_url"], content=clip)
    assert again.status_code == 403 and "used already" in again.json()["detail"]


def test_bytes_that_differ_from_the_announced_size_are_refused_and_the_url_stays_usable(client, token, clip):
    headers = auth(token("editor"))
    up = _start(client, headers, clip)
    short = client.put(up["upload_url"], content=clip[:100])
    assert short.status_code == 422 and "got 100 of" in short.json()["detail"]
    assert client.put(up["upload_url"], content=clip + b"extra").status_code == 413
    assert client.put(up["upload_url"], content=clip).status_code == 200


def test_a_file_that_is_not_media_is_refused_at_completion(client, token):
    headers = auth(token("editor"))
    data = b"just some text, not a video"
    up = _start(client, headers, data, name="notes.mp4")
    client.put(up["upload_url"], content=data)
    r = client.post(up["complete_url"], headers=headers)
    assert r.status_code == 422 and r.json()["type"].endswith("/not-media")
    assert client.get("/v1/assets", headers=headers).json()["items"] == []


def test_completing_before_the_bytes_arrived_is_409_and_bad_names_are_422(client, token):
    headers = auth(token("editor"))
    up = _start(client, headers, b"x" * 10)
    assert client.post(up["complete_url"], headers=headers).status_code == 409
    for name in ("../x.mp4", "a/b.mp4", ".."):
        assert (
            client.post("/v1/assets/uploads", json={"filename": name, "size": 5}, headers=headers).status_code
            == 422
        )
    big = client.post("/v1/assets/uploads", json={"filename": "a.mp4", "size": 10**12}, headers=headers)
    assert big.status_code == 413
