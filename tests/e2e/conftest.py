"""The whole system as processes (``devstack.Stack``, the lines of ``deployments/Procfile``) on free ports,
against a throwaway RabbitMQ vhost, once on SQLite and once on PostgreSQL (one database per service)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest
import pytest_asyncio
from devstack.stack import Ports, Stack, stack_env
from e2e_stack import RunningStack

from ecommerce.events.channels import EXCHANGE
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import temporary_vhost

SERVICES = ("orders", "payments", "notifications", "gateway")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningStack]:
    var_dir = tmp_path_factory.mktemp("var")
    log: list[str] = []
    async with contextlib.AsyncExitStack() as resources:
        amqp_url = await resources.enter_async_context(temporary_vhost())
        base = {
            "AMQP_URL": amqp_url,
            "LOG_LEVEL": "INFO",
            "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48),
            # A slow provider makes "cancel while the charge is in flight" a real race.
            "PAYMENTS_PROVIDER_LATENCY_MS": "300",
            "NOTIFICATIONS_RETRY_FIRST_DELAY_SECONDS": "0.2",
            "NOTIFICATIONS_MAILER_POLL_SECONDS": "0.2",
        }
        if request.param == "postgres":
            for service in SERVICES:
                url = await resources.enter_async_context(temporary_postgres_database())
                base[f"{service.upper()}_DATABASE_URL"] = url
        env = stack_env(Ports.free(), var_dir, {**os.environ, **base})
        # The tap: an exclusive queue bound to every event, declared before anything is published.
        connection = await resources.enter_async_context(await aio_pika.connect(amqp_url))
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        tap = await channel.declare_queue(exclusive=True)
        await tap.bind(exchange, "#")

        stack = Stack(env, log.append)
        await stack.start()
        base_url = f"http://{env['GATEWAY_HTTP_BIND']}/v1"
        try:
            await stack.wait_ready(base_url, within=120)
            yield RunningStack(base_url, Path(env["DEV_SMTP_MAILDIR"]), amqp_url, tap, log)
        except BaseException:
            print("\n".join(log[-200:]))
            raise
        finally:
            codes = await stack.stop()
            assert all(code == 0 for code in codes.values()), (codes, "\n".join(log[-100:]))
