from ipaddress import ip_network
from typing import Annotated

import pytest
from chassis.settings import RateLimitPolicy
from chassis.web.principal import (
    client_address,
    get_principal,
    principal_for,
)
from fastapi import Header
from redis.asyncio import Redis

from harness.app import serve
from sample.main import create_app
from sample.settings import Settings

PROXIES = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]
LIMITED = "/v1/notes/no-such-note"


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    assert client_address("203.0.113.7", ["198.51.100.1"], PROXIES) == "203.0.113.7"


def test_forwarded_for_is_walked_from_the_right_past_trusted_proxies() -> None:
    chain = ["6.6.6.6, 198.51.100.1, 10.0.0.2"]  # client-written, client, inner proxy
    assert client_address("10.0.0.1", chain, PROXIES) == "198.51.100.1"


def test_repeated_forwarded_for_lines_are_one_chain() -> None:
    chain = ["198.51.100.1", "10.0.0.2"]
    assert client_address("10.0.0.1", chain, PROXIES) == "198.51.100.1"


def test_chain_of_trusted_proxies_only_yields_its_leftmost_address() -> None:
    assert client_address("10.0.0.1", ["10.0.0.3, 10.0.0.2"], PROXIES) == "10.0.0.3"


def test_garbage_in_the_chain_stops_at_the_last_trusted_hop() -> None:
    assert client_address("10.0.0.1", ["198.51.100.1, not-an-ip"], PROXIES) == "10.0.0.1"


@pytest.mark.parametrize(
    ("address", "principal"),
    [
        ("203.0.113.7", "ip:203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "ip:2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "ip:203.0.113.7"),
        (None, "ip:unknown"),
        ("testclient", "ip:unknown"),
    ],
)
def test_principal_is_the_address_with_ipv6_grouped_by_64(
    address: str | None, principal: str
) -> None:
    assert principal_for(address) == principal


@pytest.fixture
def one_per_client(settings: Settings, redis: Redis) -> Settings:
    policy = RateLimitPolicy(name="default", quota=1, window_seconds=3600)
    return settings.model_copy(update={"rate_limit_default": policy})


async def test_clients_behind_a_trusted_proxy_have_their_own_quota(
    one_per_client: Settings,
) -> None:
    # The test client connects from 127.0.0.1: here it plays the proxy.
    settings = one_per_client.model_copy(update={"trusted_proxies": [ip_network("127.0.0.1/32")]})
    async with serve(create_app(settings)) as client:
        statuses = [
            (await client.get(LIMITED, headers={"X-Forwarded-For": ip})).status_code
            for ip in ("203.0.113.7", "198.51.100.9", "203.0.113.7")
        ]
    assert statuses == [404, 404, 429]


async def test_spoofed_forwarded_for_buys_no_quota(one_per_client: Settings) -> None:
    async with serve(create_app(one_per_client)) as client:
        statuses = [
            (await client.get(LIMITED, headers={"X-Forwarded-For": ip})).status_code
            for ip in ("203.0.113.7", "198.51.100.9")
        ]
    assert statuses == [404, 429]


async def test_principal_can_be_replaced_by_an_api_key(one_per_client: Settings) -> None:
    def by_api_key(x_api_key: Annotated[str, Header()]) -> str:
        return f"key:{x_api_key}"

    app = create_app(one_per_client)
    app.dependency_overrides[get_principal] = by_api_key
    async with serve(app) as client:
        statuses = [
            (await client.get(LIMITED, headers={"X-API-Key": key})).status_code
            for key in ("alpha", "beta", "alpha")
        ]
    assert statuses == [404, 404, 429]


def test_ipv4_mapped_peer_counts_as_its_ipv4_proxy() -> None:
    assert client_address("::ffff:10.0.0.1", ["198.51.100.1"], PROXIES) == "198.51.100.1"
