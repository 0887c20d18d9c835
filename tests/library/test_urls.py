"""`fenta assets add URL` against a local server: fetched once, http(s) only, size cap, media only."""

from __future__ import annotations

import json

import pytest

import fenta
from tests.fakes._server import FakeServer, Reply


class MediaHost(FakeServer):
    """Serves one lavfi clip as video/mp4, a web page as text/html, and a 404."""

    def __init__(self, clip: bytes) -> None:
        super().__init__()
        self.route(
            "GET", r"/clips/beach\.mp4", lambda req, m: Reply(200, clip, {"Content-Type": "video/mp4"})
        )
        self.route(
            "GET", r"/clips/sea%20front\.mp4", lambda req, m: Reply(200, clip, {"Content-Type": "video/mp4"})
        )
        self.route(
            "GET", r"/download", lambda req, m: Reply(200, clip, {"Content-Type": "application/octet-stream"})
        )
        self.route(
            "GET",
            r"/page\.mp4",
            lambda req, m: Reply(200, "<html>not a clip</html>", {"Content-Type": "text/html"}),
        )
        self.route(
            "GET",
            r"/endless\.mp4",
            lambda req, m: Reply(200, b"\0" * 200_000, {"Content-Type": "video/mp4", "X-Unsized": "1"}),
        )

    @staticmethod
    def send(h, reply: Reply) -> None:
        if "X-Unsized" not in reply.headers:
            return FakeServer.send(h, reply)
        # No Content-Length: the body runs until the connection closes (HTTP/1.1 allows it).
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.headers["Content-Type"])
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(reply.body)
        h.close_connection = True


@pytest.fixture
def host(make_media):
    clip = make_media("src.mp4", "testsrc2=s=160x120:d=1", "-pix_fmt", "yuv420p").read_bytes()
    with MediaHost(clip) as server:
        yield server


def _nothing_stored(fenta_home) -> bool:
    return not [p for p in (fenta_home / "library").rglob("*") if p.is_file()]


def test_a_url_is_downloaded_once_and_probed_like_a_file(cli, host):
    url = host.url + "/clips/beach.mp4"
    first = cli("assets", "add", url, "--tag", "beach", "--json")
    second = cli("assets", "add", url, "--json")
    assert first.exit_code == second.exit_code == 0, first.output
    a, b = json.loads(first.stdout)["assets"][0], json.loads(second.stdout)["assets"][0]
    assert a["id"] == b["id"] and a["origin"] == "url" and a["source"] == url
    assert (
        a["kind"] == "video" and a["duration"] == pytest.approx(1.0, abs=0.05) and a["path"].endswith(".mp4")
    )
    assert len(host.requests_to("/clips/")) == 1


def test_a_generic_binary_content_type_is_accepted_and_probed(host):
    asset = fenta.library.add(host.url + "/download")
    assert asset.kind == "video" and asset.width == 160


@pytest.mark.parametrize(
    "url,message",
    [
        ("ftp://{host}/clips/beach.mp4", "only http:// and https:// URLs"),
        ("file:///etc/passwd", "only http:// and https:// URLs"),
        ("{url}/page.mp4", "sent 'text/html', not video, image or audio"),
        ("{url}/missing.mp4", "download failed with HTTP 404"),
    ],
)
def test_refused_urls_name_the_url_and_store_nothing(cli, host, fenta_home, url, message):
    url = url.format(url=host.url, host=host.url.split("//")[1])
    result = cli("assets", "add", url)
    assert result.exit_code == 2 and message in result.output, result.output
    assert _nothing_stored(fenta_home)


def test_a_download_over_the_size_cap_is_refused_before_it_is_read(cli, host, fenta_home):
    result = cli("assets", "add", host.url + "/clips/beach.mp4", "--max-mb", "0.01")
    assert result.exit_code == 2 and "over the 10 KB limit" in result.output, result.output
    assert len(host.requests_to("/clips/")) == 1
    assert _nothing_stored(fenta_home)


def test_a_body_of_unstated_length_is_cut_off_at_the_cap(host, fenta_home):
    # No Content-Length to judge by up front: the cap is enforced while reading.
    with pytest.raises(fenta.AssetError, match="passed the 98 KB limit"):
        fenta.library.add(host.url + "/endless.mp4", max_bytes=100_000)
    assert _nothing_stored(fenta_home)


def test_a_workflow_url_goes_through_the_library_and_is_fetched_once(write, host):
    url = host.url + "/clips/beach.mp4"
    wf = write("wf.yaml", f"nodes:\n  clips: {{type: Input.Asset, params: {{paths: ['{url}']}}}}\n")
    for _ in range(2):
        result = fenta.run(fenta.load(wf), out="out", refresh=["clips"])  # the node runs both times
        assert result.status == "completed", result.error
    (asset,) = fenta.library.list_assets()
    assert asset.source == url and result.outputs["clips"]["clips"][0]["path"] == asset.path
    assert len(host.requests_to("/clips/")) == 1


def test_a_workflow_url_that_is_not_media_fails_its_node_naming_the_url(write, host):
    url = host.url + "/page.mp4"
    result = fenta.run(
        fenta.load(
            write("wf.yaml", f"nodes:\n  clips: {{type: Input.Asset, params: {{paths: ['{url}']}}}}\n")
        ),
        out="out",
    )
    assert result.status == "failed" and result.exit_code == 2
    assert (
        url in result.error and "node 'clips'" in result.error and "not video, image or audio" in result.error
    )


def test_a_server_error_while_downloading_is_retryable_and_a_404_is_not(write, host):
    url = host.url + "/clips/beach.mp4"
    wf = write("wf.yaml", f"nodes:\n  clips: {{type: Input.Asset, params: {{paths: ['{url}']}}}}\n")
    host.fail_next(Reply(503, "busy"))
    busy = fenta.run(fenta.load(wf), out="out")
    gone = fenta.run(
        fenta.load(
            write(
                "wf2.yaml",
                f"nodes:\n  clips: {{type: Input.Asset, params: {{paths: ['{host.url}/nope.mp4']}}}}\n",
            )
        ),
        out="out",
    )
    assert (busy.status, busy.retryable) == ("failed", True) and "HTTP 503" in busy.error
    assert (gone.status, gone.retryable) == ("failed", False) and "HTTP 404" in gone.error


def test_a_url_whose_bytes_were_added_as_a_file_is_fetched_once_too(host, tmp_path):
    local = fenta.library.add(tmp_path / "src.mp4")  # the very clip the host serves
    url = host.url + "/clips/beach.mp4"
    first, second = fenta.library.add(url), fenta.library.add(url)
    assert first.id == second.id == local.id
    assert len(host.requests_to("/clips/")) == 1


def test_a_removed_asset_is_fetched_again_from_its_url(host):
    url = host.url + "/clips/beach.mp4"
    fenta.library.remove(fenta.library.add(url).id)
    assert fenta.library.add(url).new and len(host.requests_to("/clips/")) == 2


def test_a_refused_connection_names_the_host(cli):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("assets", "add", f"http://127.0.0.1:{port}/x.mp4")
    assert r.exit_code == 2 and f"cannot connect to 127.0.0.1:{port}" in r.stderr, r.output


def test_two_spellings_of_one_url_are_one_download(host):
    first = fenta.library.add(host.url + "/clips/sea front.mp4")
    second = fenta.library.add(host.url + "/clips/sea%20front.mp4")
    assert first.id == second.id and len(host.requests_to("/clips/sea")) == 1
