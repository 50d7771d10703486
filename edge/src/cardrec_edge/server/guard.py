"""Requests the server refuses before routing them: foreign ``Host`` names and cross-origin writes.

* DNS rebinding: a page on ``evil.example`` whose name is made to resolve to this server would read it as its
  own origin. So only the names this server answers to are accepted in ``Host``: the bound address, the
  loopback names when bound to loopback or to every interface, any IP literal when bound to every interface
  (a rebinding attack needs a name), and the ``--allow-host`` names (``*``: any).
* Cross-site writes: any page the user visits can send a POST (a form, or ``fetch`` with ``no-cors``) to
  ``http://127.0.0.1:8000``. A state-changing request that a browser marks as coming from another origin
  (``Origin`` or ``Sec-Fetch-Site``) is refused; clients that send neither (curl, scripts) are not browsers
  carrying someone else's page and pass. The JSON endpoints also insist on ``Content-Type: application/json``,
  which no cross-origin page can send without a CORS preflight this server never grants.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def host_name(value: str) -> str:
    """The name part of a ``Host`` header (no port, no IPv6 brackets, no trailing dot), lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return (value.rsplit(":", 1)[0] if value.count(":") == 1 else value).rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class HostPolicy:
    """Which ``Host`` names a server bound to ``bind`` answers (see the module docstring)."""

    def __init__(self, bind: str, allow: Iterable[str] = ()):
        allow = [host_name(a) for a in allow]
        self.anything = "*" in allow
        bind = host_name(bind) if bind not in WILDCARD else bind
        self.any_ip = bind in WILDCARD
        self.names = set(allow) | (set(LOOPBACK) if bind in LOOPBACK | WILDCARD else {bind})

    def allows(self, host: str | None) -> bool:
        if self.anything:
            return True
        name = host_name(host or "")
        return name in self.names or (self.any_ip and _is_ip(name))


def cross_origin(method: str, headers: Headers) -> str | None:
    """Why a state-changing request comes from another origin's page; None when it does not."""
    if method not in UNSAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site and site not in ("same-origin", "none"):
        return f"cross-origin request refused (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is None:
        return None
    if urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
        return f"cross-origin request refused (Origin: {origin[:100]})"
    return None


class GuardMiddleware:
    """ASGI middleware answering 403 JSON to a foreign ``Host`` or a cross-origin write."""

    def __init__(self, app, policy: HostPolicy):
        self.app, self.policy = app, policy

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            host = headers.get("host")
            if not self.policy.allows(host):
                why = (f"host {host_name(host or '')!r} is not served here (start the server with "
                       f"--allow-host NAME to use that name)")
            else:
                why = cross_origin(scope["method"], headers)
            if why:
                await JSONResponse({"error": why}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)
