"""A local OAuth 2 provider (authorization code, refresh, rotation) standing in for a broker's.

``GET /authorize`` is the consent page after the person said yes: it checks the client and its
registered redirect URL and sends the browser back there with a one-use ``code`` and the ``state``
(or, scripted, with ``error=access_denied``). ``POST /token`` takes the code (client credentials in
an ``Authorization: Basic`` header or in the form; the PKCE verifier when a challenge was sent) or a
refresh token, and answers tokens that expire; a refresh rotates the refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.servers.http import Request, Response, ScriptedServer


def _error(status: int, error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, status=status)


class FakeOAuthProvider(ScriptedServer):
    def __init__(
        self, client_id: str, client_secret: str, redirect_url: str = "", expires_in: int = 1800
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_url = redirect_url
        self.expires_in = expires_in
        self._n = itertools.count(1)
        self.codes: dict[str, dict[str, Any]] = {}
        self.issued: list[dict[str, Any]] = []  # every token answer, for tests to look for leaks
        self.refresh_tokens: set[str] = set()
        self.deny_next = False
        self.route("GET", "/authorize", self._authorize)
        self.route("POST", "/token", self._token)

    def reset(self) -> None:
        super().reset()
        self.codes.clear()
        self.issued.clear()
        self.refresh_tokens.clear()
        self.deny_next = False

    def _authorize(self, req: Request) -> Response:
        if req.param("client_id") != self.client_id or req.param("redirect_uri") != self.redirect_url:
            return _error(400, "invalid_request", "unknown client or redirect_uri")
        if req.param("response_type") != "code":
            return _error(400, "unsupported_response_type", "only code")
        back = {"state": req.param("state") or ""}
        if self.deny_next:
            self.deny_next = False
            back.update(error="access_denied", error_description="the user said no")
        else:
            code = f"code-{secrets.token_hex(8)}"
            self.codes[code] = {
                "challenge": req.param("code_challenge"),
                "redirect": req.param("redirect_uri"),
            }
            back["code"] = code
        return Response(302, headers={"Location": f"{self.redirect_url}?{urlencode(back)}"})

    def _client_ok(self, req: Request, form: dict[str, str]) -> bool:
        auth = req.header("authorization") or ""
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        return cid == self.client_id and secret == self.client_secret

    def _tokens(self) -> Response:
        n = next(self._n)
        body = {
            "access_token": f"at-{n}-{secrets.token_hex(6)}",
            "refresh_token": f"rt-{n}-{secrets.token_hex(6)}",
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "api",
        }
        self.refresh_tokens.add(body["refresh_token"])
        self.issued.append(body)
        return Response.json(body)

    def _token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if not self._client_ok(req, form):
            return _error(401, "invalid_client", "bad client credentials")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            spec = self.codes.pop(form.get("code", ""), None)  # one use
            if spec is None or spec["redirect"] != form.get("redirect_uri"):
                return _error(400, "invalid_grant", "unknown, used or mismatched code")
            if spec["challenge"]:
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                if digest.decode() != spec["challenge"]:
                    return _error(400, "invalid_grant", "PKCE verifier does not match")
            return self._tokens()
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            if token not in self.refresh_tokens:
                return _error(400, "invalid_grant", "refresh token expired or revoked")
            self.refresh_tokens.discard(token)  # rotated
            return self._tokens()
        return _error(400, "unsupported_grant_type", str(grant))
