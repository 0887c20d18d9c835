"""A fake TikTok (Login Kit and the Content Posting API's creator info) on 127.0.0.1, from
publishing-contracts.md §2.3-2.4 and §5.2; by hand: `python -m tests.fakes.tiktok` (FENTA_TIKTOK_URL).

    GET  /v2/auth/authorize/                     consent: 302 to the redirect with code, scopes, state
    POST /v2/oauth/token/                        authorization_code (PKCE, hex challenge) and refresh_token
    POST /v2/post/publish/creator_info/query/    the creator (error.code "ok"; spam_risk_* with HTTP 200)

Refresh tokens rotate on every refresh and the old one dies at once (the strict reading of the Nov 2026
docs). Knobs: `consent` ("approve" | "deny"), `granted` (scopes the user leaves), `error_status` (the HTTP
status of OAuth errors: 400 by default, 200 to play the undocumented case), `creator_error`.
The publishing endpoints (init, upload, status) belong to the TikTok publisher's fake, built on this one.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from tests.fakes._server import FakeServer, Reply, Request

CLIENT_KEY = "fakeclientkey123"
CLIENT_SECRET = "fake-tiktok-secret-456"


class FakeTikTok(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._n = itertools.count(1)
        self.reset()
        self.route("GET", r"/v2/auth/authorize/", self._authorize)
        self.route("POST", r"/v2/oauth/token/", self._token)
        self.route("POST", r"/v2/post/publish/creator_info/query/", self._creator)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.consent = "approve"
            self.granted: str | None = None
            self.error_status = 400
            self.creator_error: str | None = None
            self.access_seconds = 7200
            self.codes: dict[str, dict[str, str]] = {}
            self.refresh_tokens: dict[str, str] = {}  # live refresh token -> scope
            self.dead: set[str] = set()
            self.access: dict[str, float] = {}
            self.refreshes = 0

    def grant(self, scope: str = "user.info.basic,video.publish") -> str:
        rt = f"rft.fake-{next(self._n)}-{secrets.token_hex(8)}"
        self.refresh_tokens[rt] = scope
        return rt

    def env(self, refresh_token: str | None = None) -> dict[str, str]:
        return {
            "FENTA_TIKTOK_URL": self.url,
            "FENTA_TIKTOK_CLIENT_KEY": CLIENT_KEY,
            "FENTA_TIKTOK_CLIENT_SECRET": CLIENT_SECRET,
            "FENTA_TIKTOK_REFRESH_TOKEN": refresh_token or self.grant(),
        }

    def _error(self, error: str, description: str) -> Reply:
        return Reply(
            self.error_status, {"error": error, "error_description": description, "log_id": "202611200000"}
        )

    def _issue(self, scope: str) -> Reply:
        access = f"act.fake-{next(self._n)}-{secrets.token_hex(8)}"
        self.access[access] = time.time() + self.access_seconds
        rt = self.grant(scope)
        return Reply(
            200,
            {
                "access_token": access,
                "expires_in": self.access_seconds,
                "open_id": "fake-open-id-0001",
                "refresh_expires_in": 15552000,
                "refresh_token": rt,
                "scope": scope,
                "token_type": "Bearer",
            },
        )

    def _authorize(self, req: Request, m: Any) -> Reply:
        q = {k: v[0] for k, v in req.query.items()}
        redirect = q.get("redirect_uri", "")
        url = urlparse(redirect)
        if q.get("client_key") != CLIENT_KEY:
            return Reply(400, "client_key")
        if url.hostname not in ("127.0.0.1", "localhost") or not url.port or url.query:
            return Reply(400, "redirect_uri")
        if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) != 64:
            return Reply(400, "code_challenge")
        if self.consent == "deny":
            query = {
                "error": "access_denied",
                "error_description": "The user denied",
                "state": q.get("state", ""),
            }
            return Reply(302, b"", {"Location": f"{redirect}?{urlencode(query)}"})
        code = f"fake-code-{next(self._n)}*!"  # a code that needs URL encoding, as real ones do
        scope = self.granted if self.granted is not None else q.get("scope", "")
        self.codes[code] = {"redirect_uri": redirect, "challenge": q["code_challenge"], "scope": scope}
        query = urlencode({"code": code, "scopes": scope, "state": q.get("state", "")})
        return Reply(302, b"", {"Location": f"{redirect}?{query}"})

    def _token(self, req: Request, m: Any) -> Reply:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if form.get("client_key") != CLIENT_KEY or form.get("client_secret") != CLIENT_SECRET:
            return self._error("invalid_client", "Client key or secret is incorrect.")
        if form.get("grant_type") == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if code is None or form.get("redirect_uri") != code["redirect_uri"]:
                return self._error("invalid_grant", "Authorization code is expired.")
            if hashlib.sha256(form.get("code_verifier", "").encode()).hexdigest() != code["challenge"]:
                return self._error("invalid_grant", "Code verifier does not match the challenge.")
            return self._issue(code["scope"])
        if form.get("grant_type") == "refresh_token":
            rt = form.get("refresh_token", "")
            scope = self.refresh_tokens.pop(rt, None)
            if scope is None:
                return self._error("invalid_grant", "Refresh token is invalid or expired.")
            self.dead.add(rt)
            self.refreshes += 1
            return self._issue(scope)
        return self._error("unsupported_grant_type", "grant_type")

    def _creator(self, req: Request, m: Any) -> Reply:
        token = req.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.access.get(token, 0) < time.time():
            return Reply(
                401,
                {
                    "data": {},
                    "error": {
                        "code": "access_token_invalid",
                        "message": "The access token is invalid.",
                        "log_id": "x",
                    },
                },
            )
        if self.creator_error:
            return Reply(
                200,
                {"data": {}, "error": {"code": self.creator_error, "message": "spam risk", "log_id": "x"}},
            )
        return Reply(
            200,
            {
                "data": {
                    "creator_avatar_url": "https://example.invalid/a.jpg",
                    "creator_username": "fakecreator",
                    "creator_nickname": "Fake Creator",
                    "privacy_level_options": ["SELF_ONLY"],
                    "comment_disabled": False,
                    "duet_disabled": False,
                    "stitch_disabled": True,
                    "max_video_post_duration_sec": 600,
                },
                "error": {"code": "ok", "message": "", "log_id": "x"},
            },
        )


_shared: list[FakeTikTok] = []


@pytest.fixture
def tiktok_fake(fenta_home, monkeypatch):
    """The session's fake Tiktok sign-in (state reset), with FENTA_TIKTOK_URL pointed at it and retry
    waits shrunk (no account in the environment: tests add one as they need)."""
    if not _shared:
        _shared.append(FakeTikTok().start())
    fake = _shared[0]
    fake.reset()
    monkeypatch.setenv("FENTA_TIKTOK_URL", fake.url)
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.001")
    yield fake
    fake.reset()


if __name__ == "__main__":  # by hand
    fake = FakeTikTok().start()
    fake.serve_by_hand(fake.env())
