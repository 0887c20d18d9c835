"""A fake of Meta's sign-in for Instagram publishing, both setups (publishing-contracts.md §3.1), on
127.0.0.1; by hand: `python -m tests.fakes.instagram` (FENTA_INSTAGRAM_URL replaces every Meta host).

Facebook Login (`setup facebook`):
    GET /v21.0/dialog/oauth                   consent: 302 to the redirect with code + state
    GET /v21.0/oauth/access_token             code -> short user token; fb_exchange_token -> long-lived
    GET /v21.0/me/accounts                    Pages with their Page token and instagram_business_account
Instagram Login (`setup instagram`):
    GET  /oauth/authorize                     consent (the code ends with `#_`, as Meta's does)
    POST /oauth/access_token                  code -> short token + user_id (api.instagram.com)
    GET  /access_token                        ig_exchange_token -> long-lived (60 days)
    GET  /refresh_access_token                ig_refresh_token -> a new long-lived token
Both: GET /v21.0/{id or me}?fields=...        the account's user name

Knobs: `consent`, `pages` (the Pages /me/accounts lists), `dead` (tokens refused with OAuthException 190).
The content publishing endpoints belong to the Instagram publisher's fake, built on this one.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest

from tests.fakes._server import FakeServer, Reply, Request

APP_ID = "1234567890"
APP_SECRET = "fake-meta-app-secret"
IG_USER = "17841400000000001"


def _graph_error(message: str, code: int = 190, status: int = 400) -> Reply:
    return Reply(
        status, {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}}
    )


class FakeInstagram(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._n = itertools.count(1)
        self.reset()
        self.route("GET", r"/v\d+\.\d+/dialog/oauth", self._consent)
        self.route("GET", r"/oauth/authorize", self._consent)
        self.route("GET", r"/v\d+\.\d+/oauth/access_token", self._fb_token)
        self.route("POST", r"/oauth/access_token", self._ig_short)
        self.route("GET", r"/access_token", self._ig_long)
        self.route("GET", r"/refresh_access_token", self._ig_refresh)
        self.route("GET", r"/v\d+\.\d+/me/accounts", self._pages)
        self.route("GET", r"/v\d+\.\d+/(?P<who>[\w]+)", self._profile)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.consent = "approve"
            self.codes: dict[str, str] = {}
            self.tokens: dict[str, str] = {}  # token -> kind (short, user, page, ig-short, ig-long)
            self.dead: set[str] = set()
            self.pages = [
                {
                    "id": "1001",
                    "name": "Fake Page",
                    "instagram_business_account": {"id": IG_USER, "username": "fakegram"},
                }
            ]

    def _new(self, kind: str) -> str:
        token = f"{'IGAA' if kind.startswith('ig') else 'EAA'}fake{kind}{next(self._n)}{secrets.token_hex(6)}"
        self.tokens[token] = kind
        return token

    def long_lived(self) -> str:
        """An Instagram Login long-lived token (for accounts made without the browser)."""
        return self._new("ig-long")

    def _consent(self, req: Request, m: Any) -> Reply:
        q = {k: v[0] for k, v in req.query.items()}
        if q.get("client_id") != APP_ID or not q.get("redirect_uri"):
            return Reply(400, "Invalid App ID or redirect_uri")
        if self.consent == "deny":
            query = {"error": "access_denied", "error_reason": "user_denied", "state": q.get("state", "")}
            return Reply(302, b"", {"Location": f"{q['redirect_uri']}?{urlencode(query)}"})
        code = f"AQfake{next(self._n)}"
        self.codes[code] = q["redirect_uri"]
        ig = req.path == "/oauth/authorize"
        query = urlencode({"code": code + ("#_" if ig else ""), "state": q.get("state", "")})
        return Reply(302, b"", {"Location": f"{q['redirect_uri']}?{query}"})

    def _fb_token(self, req: Request, m: Any) -> Reply:
        q = {k: v[0] for k, v in req.query.items()}
        if q.get("client_id") != APP_ID or q.get("client_secret") != APP_SECRET:
            return _graph_error("Error validating client secret.", 1)
        if q.get("grant_type") == "fb_exchange_token":
            if self.tokens.get(q.get("fb_exchange_token", "")) != "short":
                return _graph_error("Invalid OAuth access token.")
            return Reply(
                200, {"access_token": self._new("user"), "token_type": "bearer", "expires_in": 5183944}
            )
        if self.codes.pop(q.get("code", ""), None) != q.get("redirect_uri"):
            return _graph_error("Invalid verification code format.", 100)
        return Reply(200, {"access_token": self._new("short"), "token_type": "bearer", "expires_in": 5400})

    def _bearer(self, req: Request) -> str | None:
        token = req.headers.get("Authorization", "").removeprefix("Bearer ") or req.q("access_token") or ""
        return token if token in self.tokens and token not in self.dead else None

    def _pages(self, req: Request, m: Any) -> Reply:
        token = self._bearer(req)
        if token is None or self.tokens[token] != "user":
            return _graph_error("Invalid OAuth access token.")
        return Reply(200, {"data": [{**p, "access_token": self._new("page")} for p in self.pages]})

    def _ig_short(self, req: Request, m: Any) -> Reply:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if form.get("client_id") != APP_ID or form.get("client_secret") != APP_SECRET:
            return Reply(
                400, {"error_type": "OAuthException", "code": 400, "error_message": "Invalid client secret"}
            )
        if self.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
            return Reply(
                400,
                {
                    "error_type": "OAuthException",
                    "code": 400,
                    "error_message": "Matching code was not found or was already used",
                },
            )
        return Reply(
            200,
            {
                "data": [
                    {
                        "access_token": self._new("ig-short"),
                        "user_id": IG_USER,
                        "permissions": "instagram_business_basic,instagram_business_content_publish",
                    }
                ]
            },
        )

    def _ig_long(self, req: Request, m: Any) -> Reply:
        if req.q("grant_type") != "ig_exchange_token" or req.q("client_secret") != APP_SECRET:
            return _graph_error("Invalid request", 100)
        if self.tokens.get(req.q("access_token") or "") != "ig-short":
            return _graph_error("Invalid OAuth access token.")
        return Reply(
            200, {"access_token": self._new("ig-long"), "token_type": "bearer", "expires_in": 5183944}
        )

    def _ig_refresh(self, req: Request, m: Any) -> Reply:
        token = req.q("access_token") or ""
        if (
            req.q("grant_type") != "ig_refresh_token"
            or self.tokens.get(token) != "ig-long"
            or token in self.dead
        ):
            return _graph_error("Invalid OAuth access token.")
        return Reply(
            200, {"access_token": self._new("ig-long"), "token_type": "bearer", "expires_in": 5183944}
        )

    def _profile(self, req: Request, m: Any) -> Reply:
        if self._bearer(req) is None:
            return _graph_error("Invalid OAuth access token.")
        return Reply(200, {"id": IG_USER, "user_id": IG_USER, "username": "fakegram"})


_shared: list[FakeInstagram] = []


@pytest.fixture
def instagram_fake(fenta_home, monkeypatch):
    """The session's fake Instagram sign-in (state reset), with FENTA_INSTAGRAM_URL pointed at it and retry
    waits shrunk (no account in the environment: tests add one as they need)."""
    if not _shared:
        _shared.append(FakeInstagram().start())
    fake = _shared[0]
    fake.reset()
    monkeypatch.setenv("FENTA_INSTAGRAM_URL", fake.url)
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.001")
    yield fake
    fake.reset()


if __name__ == "__main__":  # by hand
    fake = FakeInstagram().start()
    fake.serve_by_hand(
        {
            "FENTA_INSTAGRAM_URL": fake.url,
            "FENTA_INSTAGRAM_APP_ID": APP_ID,
            "FENTA_INSTAGRAM_APP_SECRET": APP_SECRET,
        }
    )
