"""Replicas behind one name: the gateway's channel options spread calls over every address the name
resolves to (round_robin), where gRPC's default (pick_first) sends them all to one replica; and the
services' servers recycle connections (max_connection_age), which the gateway's calls do not notice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import grpc
import pytest
import pytest_asyncio
from gateway_backends import FakeNotificationService, notification_server

from ecommerce_runtime import grpc_server
from ecommerce_runtime.grpc_server import GrpcServer
from gateway.adapters.backends import GrpcNotifications
from gateway.adapters.grpc_calls import CHANNEL_OPTIONS, CallPolicy
from gateway.domain import Principal, Role

ADA = Principal(uuid4(), Role.CUSTOMER, "ada@example.com")
CALLS = 20


@pytest_asyncio.fixture
async def two_replicas() -> AsyncIterator[str]:
    """Two replicas of the Notification Service; only the first knows one of Ada's notifications. Yields
    a target that resolves to both (what DNS gives for a headless Service)."""
    first, second = FakeNotificationService(), FakeNotificationService()
    first.record(str(ADA.user_id), str(uuid4()), ADA.email)
    servers: list[GrpcServer] = [
        notification_server(first, "127.0.0.1:0"),
        notification_server(second, "127.0.0.1:0"),
    ]
    for server in servers:
        await server.start()
    try:
        yield "ipv4:" + ",".join(f"127.0.0.1:{server.port}" for server in servers)
    finally:
        for server in servers:
            await server.stop(0)


async def replicas_answering(target: str, options: list[tuple[str, Any]]) -> set[int]:
    """How many notifications each answer held, over ``CALLS`` calls: {0, 1} when both replicas answered."""
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        notifications = GrpcNotifications(channel, CallPolicy(5.0, 1, 1))
        await asyncio.wait_for(channel.channel_ready(), 10)
        seen = set()
        for _ in range(CALLS):
            page = await notifications.list(ADA, page_size=10, page_token=None, order_id=None)
            seen.add(len(page.items))
            await asyncio.sleep(0.01)  # round_robin uses a replica once its connection is ready
        return seen


async def test_the_gateway_spreads_calls_over_every_replica(two_replicas: str) -> None:
    assert await replicas_answering(two_replicas, CHANNEL_OPTIONS) == {0, 1}


async def test_with_grpcs_default_one_replica_takes_every_call(two_replicas: str) -> None:
    options = [(name, value) for name, value in CHANNEL_OPTIONS if name != "grpc.lb_policy_name"]
    assert len(await replicas_answering(two_replicas, options)) == 1


@dataclass
class PeerRecordingService(FakeNotificationService):
    """Notes the client address of every call: a new port is a new connection."""

    peers: list[str] = field(default_factory=list)

    async def ListNotifications(self, request: Any, context: Any) -> Any:
        self.peers.append(context.peer())
        return await super().ListNotifications(request, context)


async def test_aged_connections_are_replaced_without_failing_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    short = {"grpc.max_connection_age_ms": 300, "grpc.max_connection_age_grace_ms": 1000}
    options = [(name, short.get(name, value)) for name, value in grpc_server.SERVER_OPTIONS]
    monkeypatch.setattr(grpc_server, "SERVER_OPTIONS", options)
    service = PeerRecordingService()
    server = notification_server(service, "127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS) as channel:
            notifications = GrpcNotifications(channel, CallPolicy(5.0, 1, 1))
            for _ in range(15):  # over 1.5 s: no call fails while connections are replaced
                await notifications.list(ADA, page_size=10, page_token=None, order_id=None)
                await asyncio.sleep(0.1)
    finally:
        await server.stop(0)
    assert len(set(service.peers)) >= 2
