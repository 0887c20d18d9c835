"""A fake Google OAuth 2.0 server on 127.0.0.1 (publishing-contracts.md §1.3-1.5, §5.1), by hand:
`python -m tests.fakes.google_oauth`.

    GET  /o/oauth2/v2/auth   consent: 302 to the loopback redirect with code + state (or error=access_denied)
    POST /device/code        device and user codes (scope allow-list; 403 error_code knob)
    POST /token              authorization_code (PKCE S256), refresh_token, device_code; else unsupported
    POST /revoke?token=      revokes a token (and a refresh token's access tokens)

Knobs: `consent` ("approve" | "deny"), `granted_scope` (what the user leaves ticked), `device_script`
(answers to the next device polls: "pending", "slow_down", "denied", "expired"), `access_seconds`
(expires_in), `device_rate_limited`, `expired_answer` ("expired_token" | "invalid_grant").
`expire_access()` makes every issued access token stale (the API then answers 401), `revoke(rt)` kills
a refresh token. `poll_times` records when each device poll came.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from tests.fakes._server import FakeServer, Reply, Request

CLIENT_ID = "fake-client.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-fake-client-secret"
UPLOAD = "https://www.googleapis.com/auth/youtube.upload"
YOUTUBE = "https://www.googleapis.com/auth/youtube"
DEVICE_ALLOWED = {
    YOUTUBE,
    "https://www.googleapis.com/auth/youtube.readonly",
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/drive.file",
    "https://www.googleapis.com/auth/drive.appdata",
}


def _form(req: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(req.body.decode()).items()}


def _oauth_error(status: int, error: str, description: str = "") -> Reply:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return Reply(status, body)


@dataclass
class Grant:
    client_id: str
    scope: str
    alive: bool = True


class FakeGoogleOAuth(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._n = itertools.count(1)
        self.reset()
        self.route("GET", r"/o/oauth2/v2/auth", self._auth)
        self.route("POST", r"/device/code", self._device_code)
        self.route("POST", r"/token", self._token)
        self.route("POST", r"/revoke", self._revoke)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.consent = "approve"
            self.granted_scope: str | None = None
            self.device_script: list[str] = []
            self.device_interval = 5
            self.device_rate_limited = False
            self.expired_answer = "expired_token"
            self.access_seconds = 3599
            self.codes: dict[str, dict[str, str]] = {}
            self.devices: dict[str, dict[str, Any]] = {}
            self.grants: dict[str, Grant] = {}  # refresh token -> grant
            self.access: dict[
                str, tuple[float, str, str]
            ] = {}  # access token -> (expires at, scope, refresh token)
            self.poll_times: list[float] = []
            self.refreshes = 0

    # -- helpers for tests --------------------------------------------------------------------

    def grant(self, scope: str = UPLOAD, client_id: str = CLIENT_ID) -> str:
        """A live refresh token, as if the user had consented (for accounts made without the browser)."""
        rt = f"1//fake-refresh-{next(self._n)}-{secrets.token_hex(8)}"
        self.grants[rt] = Grant(client_id, scope)
        return rt

    def expire_access(self) -> None:
        with self.lock:
            self.access = {t: (0.0, s, r) for t, (_, s, r) in self.access.items()}

    def revoke(self, refresh_token: str) -> None:
        self.grants[refresh_token].alive = False

    def bearer(self, req: Request) -> tuple[str, str] | None:
        """(token, scope) of a live access token in the request's Authorization header."""
        auth = req.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        found = self.access.get(token)
        if not found or found[0] < time.time() or not self.grants.get(found[2], Grant("", "", False)).alive:
            return None
        return token, found[1]

    def _issue(self, refresh_token: str, scope: str, *, with_refresh: bool) -> Reply:
        token = f"ya29.fake-access-{next(self._n)}-{secrets.token_hex(8)}"
        self.access[token] = (time.time() + self.access_seconds, scope, refresh_token)
        body: dict[str, Any] = {
            "access_token": token,
            "expires_in": self.access_seconds,
            "scope": scope,
            "token_type": "Bearer",
        }
        if with_refresh:
            body["refresh_token"] = refresh_token
        return Reply(200, body)

    def _client_ok(self, form: dict[str, str]) -> Reply | None:
        if form.get("client_id") != CLIENT_ID:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if "client_secret" not in form:
            return _oauth_error(400, "invalid_request", "client_secret is missing.")
        if form["client_secret"] != CLIENT_SECRET:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        return None

    # -- routes ---------------------------------------------------------------------------------

    def _auth(self, req: Request, m: Any) -> Reply:
        q = {k: v[0] for k, v in req.query.items()}
        redirect = q.get("redirect_uri", "")
        host = urlparse(redirect).hostname
        if q.get("client_id") != CLIENT_ID:
            return Reply(400, "Error 401: invalid_client")
        if host not in ("127.0.0.1", "::1") or q.get("response_type") != "code":
            return Reply(400, "Error 400: redirect_uri_mismatch")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return Reply(400, "Error 400: invalid_request (code_challenge)")
        if self.consent == "deny":
            denied = urlencode({"error": "access_denied", "state": q.get("state", "")})
            return Reply(302, b"", {"Location": f"{redirect}?{denied}"})
        code = f"4/fake-code-{next(self._n)}"
        scope = self.granted_scope if self.granted_scope is not None else q.get("scope", "")
        self.codes[code] = {"redirect_uri": redirect, "challenge": q["code_challenge"], "scope": scope}
        query = urlencode({"state": q.get("state", ""), "code": code, "scope": scope})
        return Reply(302, b"", {"Location": f"{redirect}?{query}"})

    def _device_code(self, req: Request, m: Any) -> Reply:
        form = _form(req)
        if self.device_rate_limited:
            return Reply(403, {"error_code": "rate_limit_exceeded"})
        if form.get("client_id") != CLIENT_ID:
            return _oauth_error(401, "invalid_client")
        scopes = set(form.get("scope", "").split())
        if not scopes or not scopes <= DEVICE_ALLOWED:
            return _oauth_error(400, "invalid_scope")
        device = f"4/fake-device-{next(self._n)}"
        self.devices[device] = {"scope": " ".join(sorted(scopes)), "used": False}
        return Reply(
            200,
            {
                "device_code": device,
                "user_code": "GQVQ-JKEC",
                "verification_url": f"{self.url}/device",
                "expires_in": 1800,
                "interval": self.device_interval,
            },
        )

    def _token(self, req: Request, m: Any) -> Reply:
        form = _form(req)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._code_grant(form)
        if grant == "refresh_token":
            return self._refresh_grant(form)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self._device_grant(form)
        return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + str(grant))

    def _code_grant(self, form: dict[str, str]) -> Reply:
        refused = self._client_ok(form)
        if refused:
            return refused
        code = self.codes.pop(form.get("code", ""), None)
        if code is None:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != code["redirect_uri"]:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code["challenge"]:
            return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        return self._issue(self.grant(code["scope"]), code["scope"], with_refresh=True)

    def _refresh_grant(self, form: dict[str, str]) -> Reply:
        refused = self._client_ok(form)
        if refused:
            return refused
        rt = form.get("refresh_token", "")
        grant = self.grants.get(rt)
        if grant is None or not grant.alive:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        self.refreshes += 1
        return self._issue(rt, grant.scope, with_refresh=False)

    def _device_grant(self, form: dict[str, str]) -> Reply:
        refused = self._client_ok(form)
        if refused:
            return refused
        self.poll_times.append(time.monotonic())
        device = self.devices.get(form.get("device_code", ""))
        if device is None or device["used"]:
            return _oauth_error(400, "invalid_grant", "Bad Request")
        answer = self.device_script.pop(0) if self.device_script else "granted"
        if answer == "pending":
            return _oauth_error(428, "authorization_pending", "Precondition Required")
        if answer == "slow_down":
            return _oauth_error(403, "slow_down", "Forbidden")
        if answer == "denied":
            return _oauth_error(403, "access_denied", "Forbidden")
        if answer == "expired":
            return _oauth_error(400, self.expired_answer)
        device["used"] = True
        return self._issue(self.grant(device["scope"]), device["scope"], with_refresh=True)

    def _revoke(self, req: Request, m: Any) -> Reply:
        token = req.q("token") or _form(req).get("token", "")
        if token in self.grants:
            self.grants[token].alive = False
            return Reply(200, {})
        if token in self.access:
            self.grants[self.access[token][2]].alive = False
            return Reply(200, {})
        return _oauth_error(400, "invalid_token")


if __name__ == "__main__":  # by hand
    fake = FakeGoogleOAuth().start()
    fake.serve_by_hand(
        {
            "FENTA_GOOGLE_OAUTH_URL": fake.url,
            "FENTA_YOUTUBE_CLIENT_ID": CLIENT_ID,
            "FENTA_YOUTUBE_CLIENT_SECRET": CLIENT_SECRET,
        }
    )
