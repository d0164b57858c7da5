"""Who may read the protected endpoints: a bearer token, a staff user, or an allowed address."""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.http import HttpRequest

from . import config

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=1)
def _allowed_networks() -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(entry, strict=False) for entry in config.get_config()["ALLOWED_IPS"]
    )


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
    """True when the client address is inside ``ALLOWED_IPS``."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


def is_authorised(request: HttpRequest) -> bool:
    """True for a valid bearer token, a logged-in staff user or an allowed address."""
    return token_matches(request) or address_allowed(request) or is_staff(request)


config.on_reload(_allowed_networks.cache_clear)
