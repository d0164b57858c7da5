"""Who may read the protected endpoints: a bearer token, a staff user, or an allowed address."""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.http import HttpRequest

from . import config

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(entries: list[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


@lru_cache(maxsize=1)
def _allowed_networks() -> tuple[Network, ...]:
    return _parse(config.get_config()["ALLOWED_IPS"])


@lru_cache(maxsize=1)
def _trusted_proxies() -> tuple[Network, ...]:
    return _parse(config.get_config()["TRUSTED_PROXIES"])


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    return address is not None and any(address in net for net in _trusted_proxies())


# Headers a reverse proxy adds on behalf of the client it forwards.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def client_address(request: HttpRequest) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address: ``REMOTE_ADDR``, or, when that is a trusted proxy, the first
    address in ``X-Forwarded-For`` (read from the right) that is not a trusted proxy.

    Without ``TRUSTED_PROXIES`` the header is never believed: anyone can send it. And a
    request that carries forwarding headers from a peer that is not a trusted proxy has no
    known client (None): the peer is most likely a proxy nobody listed, such as an nginx on
    this host, whose own loopback address must not let everyone in.
    """
    address = _address(request.META.get("REMOTE_ADDR", ""))
    if not _trusted(address):
        forwarded = any(request.META.get(header) for header in FORWARDING_HEADERS)
        return None if forwarded else address
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _address(hop)
        if not _trusted(address):
            return address
    return address


def _bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def token_matches(request: HttpRequest) -> bool:
    """True when the request carries ``Authorization: Bearer <TOKEN>`` (constant-time)."""
    expected = config.get_config()["TOKEN"]
    given = _bearer_token(request)
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def address_allowed(request: HttpRequest) -> bool:
    """True when the client's address (see :func:`client_address`) is inside ``ALLOWED_IPS``."""
    address = client_address(request)
    return address is not None and any(address in net for net in _allowed_networks())


def is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


def is_authorised(request: HttpRequest) -> bool:
    """True for a valid bearer token, a logged-in staff user or an allowed address."""
    return token_matches(request) or address_allowed(request) or is_staff(request)


config.on_reload(_allowed_networks.cache_clear)
config.on_reload(_trusted_proxies.cache_clear)
