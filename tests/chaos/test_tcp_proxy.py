"""The chaos proxy does to a link what the scenarios say it does: pass, delay, drop, refuse, hold, balance."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from chaos.tcp_proxy import TcpProxy

QUIET_S = 0.3
"""How long nothing may arrive through a held or delayed link (a lower bound: never flaky)."""


@contextlib.asynccontextmanager
async def echo_server(tag: bytes = b"") -> AsyncIterator[int]:
    """A server that answers every line with ``tag`` + the line; yields its port."""
    handlers: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.add(writer)
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                writer.write(tag + line)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]
    for writer in writers:
        writer.close()
    await asyncio.gather(*handlers, return_exceptions=True)


@contextlib.asynccontextmanager
async def proxy_to(*ports: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy("test", [("127.0.0.1", port) for port in ports])
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@contextlib.asynccontextmanager
async def connection(proxy: TcpProxy) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bytes:
    writer.write(line + b"\n")
    return (await asyncio.wait_for(reader.readline(), 5)).rstrip(b"\n")


async def test_it_passes_data_both_ways_in_order() -> None:
    async with echo_server() as port, proxy_to(port) as proxy, connection(proxy) as (reader, writer):
        assert [await ask(reader, writer, b"%d" % n) for n in range(50)] == [b"%d" % n for n in range(50)]


async def test_latency_holds_each_chunk_back_and_keeps_the_order() -> None:
    async with echo_server() as port, proxy_to(port) as proxy, connection(proxy) as (reader, writer):
        proxy.latency(2 * QUIET_S)
        writer.write(b"a\nb\n")
        first = asyncio.ensure_future(reader.readline())
        done, _ = await asyncio.wait({first}, timeout=QUIET_S)
        assert not done, "no delay"
        assert await asyncio.wait_for(first, 5) == b"a\n"
        assert await asyncio.wait_for(reader.readline(), 5) == b"b\n"


async def test_drop_resets_open_connections_and_takes_new_ones() -> None:
    async with echo_server() as port, proxy_to(port) as proxy:
        async with connection(proxy) as (reader, writer):
            assert await ask(reader, writer, b"before") == b"before"
            proxy.drop()
            with contextlib.suppress(ConnectionError):
                assert await asyncio.wait_for(reader.read(), 5) == b""
        async with connection(proxy) as (reader, writer):
            assert await ask(reader, writer, b"after") == b"after"


async def test_refuse_refuses_until_restored_on_the_same_port() -> None:
    async with echo_server() as port, proxy_to(port) as proxy:
        await proxy.refuse()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        await proxy.restore()
        async with connection(proxy) as (reader, writer):
            assert await ask(reader, writer, b"back") == b"back"


async def test_hold_moves_nothing_until_restored_then_everything() -> None:
    async with echo_server() as port, proxy_to(port) as proxy, connection(proxy) as (reader, writer):
        assert await ask(reader, writer, b"before") == b"before"
        proxy.hold()
        writer.write(b"during\n")
        async with connection(proxy) as (late_reader, late_writer):
            late_writer.write(b"new\n")
            pending = asyncio.ensure_future(reader.readline())
            late = asyncio.ensure_future(late_reader.readline())
            done, _ = await asyncio.wait({pending, late}, timeout=QUIET_S)
            assert not done, "data crossed a held link"
            await proxy.restore()
            assert await asyncio.wait_for(pending, 5) == b"during\n"
            assert await asyncio.wait_for(late, 5) == b"new\n"


async def test_new_connections_go_to_the_upstreams_in_turn_skipping_one_that_is_down() -> None:
    async with echo_server(b"1:") as one, echo_server(b"2:") as two, proxy_to(one, two) as proxy:
        answers = []
        for _ in range(4):
            async with connection(proxy) as (reader, writer):
                answers.append(await ask(reader, writer, b"x"))
        assert sorted(answers) == [b"1:x", b"1:x", b"2:x", b"2:x"]
    async with echo_server(b"up:") as up:
        async with echo_server() as down_port:
            pass  # closed: nothing listens there any more
        async with proxy_to(down_port, up) as proxy:
            for _ in range(3):
                async with connection(proxy) as (reader, writer):
                    assert await ask(reader, writer, b"x") == b"up:x"
