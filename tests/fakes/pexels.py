"""A fake Pexels API (contract section 2) on 127.0.0.1 that serves tiny real media.

It requires the bare key in `Authorization`, emits `X-Ratelimit-*` on 200s and answers 429 without
them once its allowance is spent, paginates with `next_page`, and serves every `link`/`src` URL
itself: small valid mp4 clips and jpg photos made with FFmpeg (lavfi) on first use, distinct per id.

Switches: `empty_queries` (queries with no results), `remaining` (the allowance),
`stock(query, [{"slug": "red-sports-car", "alt": "...", "color": "#D01010"}, ...])` (a query's own results:
page URLs with those slugs, photos with that alt, every picture of that colour),
`media_delay` (seconds before each media reply), `fault(kind, times, path_contains)` with kinds
"401", "429", "500", "slow", "malformed", "truncated", "html".

By hand: ``python -m tests.fakes.pexels`` prints the base URL for FENTA_PEXELS_URL.
"""

from __future__ import annotations

import atexit
import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fenta.media.ffmpeg import ffmpeg_exe
from tests.fakes._server import FakeServer, Reply, Request

KEY = "pexels-fake-key-0123456789"
POOL = 10  # distinct videos/photos in the catalogue; queries overlap inside it

_media_lock = threading.Lock()
_media_dir = Path(tempfile.mkdtemp(prefix="fenta-fake-pexels-"))
atexit.register(shutil.rmtree, _media_dir, True)


def media_file(kind: str, ident: int, color: str | None = None) -> Path:
    """A tiny valid media file for `ident` (2 s 320x568 mp4, or a 320x568 jpg), made once per process; of
    `color` (#RRGGBB) when given, else a colour of its own."""
    ext = "mp4" if kind == "video" else "jpg"
    path = _media_dir / f"{kind}-{ident}{'-' + color.lstrip('#') if color else ''}.{ext}"
    with _media_lock:
        if not path.exists():
            own = int(hashlib.md5(str(ident).encode()).hexdigest()[:6], 16)
            hue = int(color.lstrip("#"), 16) if color else own
            src = f"color=c=0x{hue:06x}:s=320x568:d=2:r=15"
            tmp = path.with_suffix(".tmp." + ext)
            args = (
                ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-t", "2"]
                if kind == "video"
                else ["-frames:v", "1"]
            )
            subprocess.run(
                [
                    ffmpeg_exe(),
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    src,
                    *args,
                    "-f",
                    "mp4" if kind == "video" else "image2",
                    str(tmp),
                ],
                check=True,
            )
            tmp.replace(path)
    return path


class FakePexels(FakeServer):
    """Video/photo search, get-by-id and media downloads."""

    def __init__(self, key: str = KEY, remaining: int = 200) -> None:
        super().__init__()
        self.key = key
        self.reset(remaining)
        self.route("GET", r"/videos/search/?", self._video_search)
        self.route("GET", r"/videos/videos/(\d+)", self._video_get)
        self.route("GET", r"/v1/search/?", self._photo_search)
        self.route("GET", r"/v1/photos/(\d+)", self._photo_get)
        self.route("GET", r"/media/video/(\d+)\.mp4", self._media_video)
        self.route("GET", r"/media/photo/(\d+)\.jpg", self._media_photo)

    def reset(self, remaining: int = 200) -> None:
        """Forget requests and faults; refill the allowance."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.limit = 20000
            self.remaining = remaining
            self.reset_at = int(time.time()) + 3600
            self.empty_queries: set[str] = set()
            self.sized_empty_queries: set[str] = set()  # no results only when a `size` filter is sent
            self.media_delay = 0.0
            self.catalogue: dict[str, list[int]] = {}  # query -> ids of its own results (`stock`)
            self.specs: dict[int, dict[str, Any]] = {}  # id -> slug, alt, color

    def stock(self, query: str, items: list[dict[str, Any]]) -> list[int]:
        """Give `query` its own results, in order (dicts of `slug`, `alt` and `color`); returns their ids."""
        with self.lock:
            ids = []
            for spec in items:
                ident = 5000 + len(self.specs)
                self.specs[ident] = dict(spec)
                ids.append(ident)
            self.catalogue[query.lower()] = ids
        return ids

    # -- switches ------------------------------------------------------------------------

    def fault(self, kind: str, times: int = 1, path_contains: str | None = None) -> None:
        replies = {
            "401": Reply(401, {"error": "Invalid API key"}),
            "429": Reply(429, {"error": "Rate limit exceeded"}, {"Retry-After": "1"}),
            "500": Reply(500, {"error": "Internal server error"}),
            "slow": Reply(200, {"videos": []}, delay=1.0),
            "malformed": Reply(200, '{"page": 1, "videos": [', {"Content-Type": "application/json"}),
            "truncated": Reply(
                200, media_file("video", 1).read_bytes(), {"Content-Type": "video/mp4"}, truncate_to=200
            ),
            "html": Reply(200, "<html>Not found</html>", {"Content-Type": "text/html"}),
        }
        self.fail_next(replies[kind], times, path_contains=path_contains)

    def api_requests(self) -> list[Request]:
        return [r for r in self.requests if not r.path.startswith("/media/")]

    def media_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/media/")]

    # -- helpers -------------------------------------------------------------------------

    def _gate(self, req: Request) -> Reply | None:
        """Auth and rate limit, exactly as the contract describes."""
        auth = req.headers.get("Authorization")
        if auth != self.key:
            return Reply(
                401, {"error": "Authorization field missing or invalid" if not auth else "Invalid API key"}
            )
        with self.lock:
            if self.remaining <= 0:
                return Reply(429, {"error": "Rate limit exceeded"})  # no X-Ratelimit-* on 429
            self.remaining -= 1
        return None

    def _limits(self) -> dict[str, str]:
        return {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(self.remaining),
            "X-Ratelimit-Reset": str(self.reset_at),
        }

    def _ids(self, query: str) -> list[int]:
        if query.lower() in self.catalogue:
            return list(self.catalogue[query.lower()])
        start = int(hashlib.md5(query.lower().encode()).hexdigest()[:4], 16) % POOL
        return [1000 + (start + i) % POOL for i in range(POOL // 2 + 1)]

    def _video(self, vid: int, orientation: str | None) -> dict[str, Any]:
        landscape = orientation == "landscape"
        sizes = [(1080, 1920), (540, 960), (720, 1280), (2160, 3840)]
        if landscape:
            sizes = [(h, w) for w, h in sizes]
        files = [
            {
                "id": vid * 10 + i,
                "quality": "uhd" if max(w, h) > 2000 else ("hd" if min(w, h) >= 720 else "sd"),
                "file_type": "video/mp4",
                "width": w,
                "height": h,
                "fps": 29.97,
                "link": f"{self.url}/media/video/{vid}.mp4?w={w}&h={h}",
            }
            for i, (w, h) in enumerate(sizes)
        ]
        files.append(
            {
                "id": vid * 10 + 9,
                "quality": "hls",
                "file_type": "application/x-mpegURL",
                "width": None,
                "height": None,
                "fps": None,
                "link": f"{self.url}/media/video/{vid}.m3u8",
            }
        )
        w, h = sizes[0]
        slug = self.specs.get(vid, {}).get("slug", "clip")
        return {
            "id": vid,
            "width": w,
            "height": h,
            "url": f"https://www.pexels.com/video/{slug}-{vid}/",
            "image": f"{self.url}/media/photo/{vid}.jpg",
            "full_res": None,
            "tags": [],
            "duration": 2,
            "user": {"id": vid + 5, "name": f"Author {vid}", "url": f"https://www.pexels.com/@author{vid}"},
            "video_files": files,
            "video_pictures": [{"id": vid * 7, "picture": f"{self.url}/media/photo/{vid}.jpg", "nr": 0}],
        }

    def _photo(self, pid: int) -> dict[str, Any]:
        base = f"{self.url}/media/photo/{pid}.jpg"
        spec = self.specs.get(pid, {})
        return {
            "id": pid,
            "width": 3000,
            "height": 5333,
            "url": f"https://www.pexels.com/photo/{spec.get('slug', 'still')}-{pid}/",
            "photographer": f"Photographer {pid}",
            "photographer_url": f"https://www.pexels.com/@photographer{pid}",
            "photographer_id": pid + 3,
            "avg_color": "#4A5D3F",
            "alt": spec.get("alt", f"Still {pid}"),
            "liked": False,
            "src": {
                k: f"{base}?v={k}"
                for k in ("original", "large2x", "large", "medium", "small", "portrait", "landscape", "tiny")
            },
        }

    def _search(self, req: Request, kind: str) -> Reply:
        denied = self._gate(req)
        if denied:
            return denied
        query = (req.q("query") or "").strip()
        if not query:
            return Reply(400, {"error": "query is required"})
        orientation = req.q("orientation")
        if orientation not in (None, "landscape", "portrait", "square"):
            return Reply(400, {"error": "invalid orientation"})
        page = int(req.q("page") or 1)
        per_page = min(80, int(req.q("per_page") or 15))
        empty = query.lower() in self.empty_queries or (
            req.q("size") and query.lower() in self.sized_empty_queries
        )
        ids = [] if empty else self._ids(query)
        chunk = ids[(page - 1) * per_page : page * per_page]
        items = [self._video(i, orientation) if kind == "videos" else self._photo(i) for i in chunk]
        prefix = "/videos/search" if kind == "videos" else "/v1/search"
        body: dict[str, Any] = {
            "page": page,
            "per_page": per_page,
            "total_results": len(ids),
            "url": f"https://www.pexels.com/search/{query}/",
            kind: items,
        }
        if page * per_page < len(ids):
            body["next_page"] = f"{self.url}{prefix}/?page={page + 1}&per_page={per_page}&query={query}"
        if page > 1:
            body["prev_page"] = f"{self.url}{prefix}/?page={page - 1}&per_page={per_page}&query={query}"
        return Reply(200, body, self._limits())

    def _video_search(self, req: Request, m: re.Match) -> Reply:
        return self._search(req, "videos")

    def _photo_search(self, req: Request, m: re.Match) -> Reply:
        return self._search(req, "photos")

    def _video_get(self, req: Request, m: re.Match) -> Reply:
        return self._gate(req) or Reply(200, self._video(int(m.group(1)), None), self._limits())

    def _photo_get(self, req: Request, m: re.Match) -> Reply:
        return self._gate(req) or Reply(200, self._photo(int(m.group(1))), self._limits())

    def _media_video(self, req: Request, m: re.Match) -> Reply:
        ident = int(m.group(1))
        color = self.specs.get(ident, {}).get("color")
        data = media_file("video", ident, color).read_bytes()
        return Reply(200, data, {"Content-Type": "video/mp4"}, delay=self.media_delay)

    def _media_photo(self, req: Request, m: re.Match) -> Reply:
        ident = int(m.group(1))
        color = self.specs.get(ident, {}).get("color")
        data = media_file("photo", ident, color).read_bytes()
        return Reply(200, data, {"Content-Type": "image/jpeg"}, delay=self.media_delay)


if __name__ == "__main__":  # by hand: python -m tests.fakes.pexels
    fake = FakePexels().start()
    fake.serve_by_hand({"FENTA_PEXELS_URL": fake.url, "PEXELS_API_KEY": fake.key})
