"""Who may do what: the token for a server reachable from other machines, CSRF for every change,
and the Host header check that keeps a loopback server out of DNS-rebinding pages."""
from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Iterable, Optional
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

TOKEN_COOKIE = "datamake_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, ::1 and localhost: a server only this machine can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def same(a: Optional[str], b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Guard:
    """ASGI middleware: Host check, token (when set) on every request, CSRF header on every change.

    ``token`` is None on a loopback server. ``allowed_hosts`` None accepts any Host header.
    """

    def __init__(self, app, csrf: str, token: Optional[str] = None, allowed_hosts: Optional[Iterable[str]] = None):
        self.app, self.csrf, self.token = app, csrf, token
        self.allowed_hosts = None if allowed_hosts is None else set(allowed_hosts)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refused = self._refusal(Request(scope))
        if refused is not None:
            return await refused(scope, receive, send)
        await self.app(scope, receive, send)

    def _refusal(self, request: Request):
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return PlainTextResponse(f"datamake ui: unknown Host '{host}'; open the address printed at start",
                                     status_code=400)
        if self.token is not None:
            given = request.query_params.get("token")
            if same(given, self.token) and request.method == "GET":
                return _remember_token(request, self.token)
            if not (same(request.cookies.get(TOKEN_COOKIE), self.token) or same(_bearer(request), self.token)):
                return PlainTextResponse("datamake ui: this server needs its token: open the address with "
                                         "?token=… that `datamake ui` printed at start", status_code=403)
        if request.method not in SAFE_METHODS:
            if not same(request.headers.get(CSRF_HEADER), self.csrf) or not _same_origin(request):
                return PlainTextResponse("datamake ui: a change must come from this server's own page "
                                         "(missing or wrong CSRF token)", status_code=403)
        return None


def _bearer(request: Request) -> Optional[str]:
    value = request.headers.get("authorization", "")
    return value[6:].strip() if value.lower().startswith("token ") else None


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _remember_token(request: Request, token: str) -> RedirectResponse:
    """The token from the printed address becomes a cookie; the address bar loses it."""
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    target = request.url.path + ("?" + urlencode(rest) if rest else "")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
    return response
