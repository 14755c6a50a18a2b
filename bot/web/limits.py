"""What the web app takes from one client: request bodies of at most 64 KiB, and its address for the
per-address message limits (``bot.services.gateway.RateLimit``).

The address is the TCP peer's. Behind a reverse proxy every peer is the proxy, so when the peer is
one of ``LEGAL_TRIAGE_TRUSTED_PROXIES`` the client is read from ``X-Forwarded-For``: the hops are
walked from the right (the proxy's own entry) past trusted proxies to the first address that is not
one. Anything to the left of that was written by the client and is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.wording import TOO_LARGE

MAX_BODY_BYTES = 64 * 1024  # the largest thing a citizen or staff member sends is a short form

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _too_large(scope: Scope) -> Response:
    return JSONResponse({"error": TOO_LARGE}, status_code=413)


class BodyLimit:
    """Refuse, with 413, a request body over ``limit`` bytes: at once when its Content-Length says so
    (with ``refuse(scope)``'s response), else as soon as the bytes received pass the limit, by raising
    ``HTTPException(413)`` for the app's handler (a body sent in chunks is never read whole)."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, refuse: Callable[[Scope], Response] = _too_large
    ) -> None:
        self.app = app
        self.limit = limit
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self.refuse(scope)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # the app's error handler answers, as for any HTTPException
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, send)


def trusted_networks(setting: str) -> tuple[Network, ...]:
    """``LEGAL_TRIAGE_TRUSTED_PROXIES``: comma-separated addresses or networks (``10.0.0.0/8``)."""
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"LEGAL_TRIAGE_TRUSTED_PROXIES: {exc}") from exc


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: Request, trusted: Sequence[Network]) -> str:
    """The key the per-address limits count under: the client's address (its /64 for IPv6, which one
    household or phone holds whole)."""
    address = request.client.host if request.client else ""
    if trusted:
        values = request.headers.getlist("x-forwarded-for")
        hops = [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
        while hops and _trusted(address, trusted):
            address = hops.pop()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]  # not an address (a test client, a proxy's garbage): counted as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
