"""Who is calling: the one key that rate limits and idempotency keys are scoped by.

By default the principal is the client's IP address. `X-Forwarded-For` is believed only when the
peer is a trusted proxy (`TRUSTED_PROXIES`), and only as far as the chain runs through trusted
proxies: anyone can write the header, so its leftmost entries are whatever the client chose.

An app with authentication limits by user or API key instead: make `get_principal` depend on the
auth dependency and return e.g. `f"key:{api_key.id}"` (an id, never the secret itself).
"""

from collections.abc import Sequence
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import Annotated

from chassis.settings import Settings
from fastapi import Depends, Request

Network = IPv4Network | IPv6Network

# One IPv6 subscriber usually holds a whole /64: keying by single addresses would let one
# client rotate through billions of buckets.
IPV6_PREFIX = 64


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str | None:
    """The peer's address or, from a trusted peer, the first untrusted hop from the right."""
    if peer is None:
        return None
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",") if hop.strip()]
    client = peer
    while _is_trusted(client, trusted) and hops:
        hop = hops.pop()
        if _parse(hop) is None:
            break  # garbage in the chain: the last trusted hop is all we can vouch for
        client = hop
    return client


def principal_for(address: str | None) -> str:
    """`ip:<IPv4>` or `ip:<IPv6 /64>`."""
    parsed = _parse(address or "")
    if parsed is None:
        return "ip:unknown"
    if isinstance(parsed, IPv6Address):
        return f"ip:{ip_network((parsed, IPV6_PREFIX), strict=False)}"
    return f"ip:{parsed}"


async def get_principal(request: Request) -> str:
    """The client IP; replace this dependency to limit and scope keys by user or API key.

    `async def`, like every dependency on the hot path: a plain `def` runs in the thread pool. The
    settings are read from the request, not through a dependency: FastAPI solves every nested
    dependency again on every request.
    """
    settings: Settings = request.state.resources.settings
    peer = request.client.host if request.client else None
    forwarded = request.headers.getlist("x-forwarded-for") if settings.trusted_proxies else []
    return principal_for(client_address(peer, forwarded, settings.trusted_proxies))


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    """The address, with an IPv4-mapped IPv6 address (a dual-stack socket's) as plain IPv4."""
    try:
        parsed = ip_address(value)
    except ValueError:
        return None
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in trusted)


PrincipalDep = Annotated[str, Depends(get_principal)]
