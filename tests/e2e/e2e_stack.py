"""The whole system as processes (``devstack.Stack``: the lines of ``deployments/Procfile``) on free ports,
against a throwaway RabbitMQ vhost, on SQLite or on PostgreSQL (one throwaway database per service), with a
tap queue bound to every event of the exchange. Used by the end-to-end and the live fuzzing tests."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from devstack.addresses import Ports
from devstack.stack import Stack, stack_env

from ecommerce.events.channels import EXCHANGE
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import temporary_vhost

SERVICES = ("orders", "payments", "notifications", "gateway")


@dataclass
class RunningStack:
    base_url: str
    maildir: Path
    amqp_url: str
    tap: AbstractQueue
    log: list[str]

    async def drain_tap(self) -> list[AbstractIncomingMessage]:
        """Every message the tap queue holds now."""
        messages = []
        while (message := await self.tap.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
        return messages


@contextlib.asynccontextmanager
async def running_stack(
    var_dir: Path, database: Literal["sqlite", "postgres"], settings: Mapping[str, str] = {}
) -> AsyncIterator[RunningStack]:
    """The stack, ready (``/v1/readyz`` green); stopped on exit, where every process must exit 0."""
    log: list[str] = []
    async with contextlib.AsyncExitStack() as resources:
        amqp_url = await resources.enter_async_context(temporary_vhost())
        base = {
            "AMQP_URL": amqp_url,
            "LOG_LEVEL": "INFO",
            "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48),
            "GATEWAY_VALIDATE_RESPONSES": "true",  # every answer of the live stack checked against the spec
        }
        if database == "postgres":
            for service in SERVICES:
                url = await resources.enter_async_context(temporary_postgres_database())
                base[f"{service.upper()}_DATABASE_URL"] = url
        env = stack_env(Ports.free().addresses(), var_dir, {**os.environ, **base, **settings})
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
