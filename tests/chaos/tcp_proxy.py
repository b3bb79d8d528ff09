"""A TCP proxy the chaos suite puts on every link of the stack, so a fault hits one link and nothing else.

Every service reaches the broker, its database, the mail sink and the services it calls through one
``TcpProxy``; the shared RabbitMQ and PostgreSQL are never touched. What a proxy can do to its link:

- ``pass``: forward both ways (the default, and what ``restore`` returns to);
- ``latency(seconds)``: delay every chunk by that much, each direction, order kept;
- ``drop()``: reset every open connection at once, keep accepting new ones (a network blip, a broker that
  closed its connections);
- ``refuse()``: reset every open connection and stop listening, so new ones are refused (a server down);
- ``hold()``: a partition -- nothing moves either way on open connections, and new connections are
  accepted but get nowhere; ``restore`` lets everything through again, buffered data included, as TCP
  does when a partition heals before its retransmissions give up.

With several upstreams it balances new connections over them in turn and skips one that refuses, like a
Kubernetes Service in front of replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Sequence

Upstream = tuple[str, int]


class _Side(asyncio.Protocol):
    """One end of a proxied connection: what it reads goes to its peer."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self._peer_full = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.update_reading()

    def update_reading(self) -> None:
        """Read unless the proxy holds the link, the peer is not connected yet, or the peer is full."""
        if self.transport is None or self.transport.is_closing():
            return
        if self.link.proxy.holding or self.peer is None or self._peer_full:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            self.link.proxy.deliver(self.peer, data)

    def eof_received(self) -> bool:
        if self.peer is not None:
            self.link.proxy.deliver(self.peer, None)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or self.peer is None:
            self.link.close(abort=True)
        else:  # after what is still on its way to the peer
            self.link.proxy.after_delivery(self.peer, lambda: self.link.close(abort=False))

    # Flow control: a peer that cannot keep up pauses our reading.
    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer._peer_full = True
            self.peer.update_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer._peer_full = False
            self.peer.update_reading()


class _Link:
    """A client connection and the upstream connection it is forwarded to."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy
        self.client = _Side(self)
        self.upstream: _Side | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.closed = False

    def sides(self) -> list[_Side]:
        return [self.client] + ([self.upstream] if self.upstream is not None else [])

    def update_reading(self) -> None:
        for side in self.sides():
            side.update_reading()

    def close(self, *, abort: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.forget(self)
        if self.connecting is not None and self.connecting is not asyncio.current_task():
            self.connecting.cancel()
        for side in self.sides():
            if side.transport is not None:
                side.transport.abort() if abort else side.transport.close()


class TcpProxy:
    """A proxy on ``127.0.0.1:<port>`` (0 picks a free port) to ``upstreams`` (see the module docstring)."""

    def __init__(self, name: str, upstreams: Sequence[Upstream], port: int = 0) -> None:
        if not upstreams:
            raise ValueError(f"proxy {name}: no upstream")
        self.name = name
        self.port = port
        self.holding = False
        self._upstreams = list(upstreams)
        self._turn = itertools.cycle(range(len(self._upstreams)))
        self._latency = 0.0
        self._release_at: dict[int, float] = {}  # per side: when its last delayed chunk goes out
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._held: list[_Link] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def state(self) -> str:
        if self._server is None:
            return "refusing"
        if self.holding:
            return "holding"
        return f"latency {self._latency * 1000:.0f} ms" if self._latency else "pass"

    async def start(self) -> None:
        """Listen (again, on the same port after ``refuse``)."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _accept(self) -> _Side:
        link = _Link(self)
        self._links.add(link)
        if self.holding:
            self._held.append(link)
        else:
            link.connecting = asyncio.get_running_loop().create_task(self._connect(link))
        return link.client

    async def _connect(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(len(self._upstreams)):
            host, port = self._upstreams[next(self._turn)]
            try:
                _, side = await loop.create_connection(lambda: _Side(link), host, port)
            except OSError:
                continue
            if link.closed:
                if side.transport is not None:
                    side.transport.close()
                return
            link.upstream, side.peer, link.client.peer = side, link.client, side
            link.update_reading()
            return
        link.close(abort=True)

    def deliver(self, to: _Side, data: bytes | None) -> None:
        """Write ``data`` (``None``: end of stream) to ``to``, after the latency if there is one."""
        if self._latency <= 0:
            _write(to, data)
            return
        loop = asyncio.get_running_loop()
        at = max(loop.time() + self._latency, self._release_at.get(id(to), 0.0))
        self._release_at[id(to)] = at
        loop.call_at(at, _write, to, data)

    def after_delivery(self, to: _Side, action: Callable[[], None]) -> None:
        """Run ``action`` once what was delivered to ``to`` so far has been written."""
        at = self._release_at.get(id(to), 0.0)
        loop = asyncio.get_running_loop()
        if at <= loop.time():
            action()
        else:
            loop.call_at(at, action)

    def forget(self, link: _Link) -> None:
        self._links.discard(link)
        for side in link.sides():
            self._release_at.pop(id(side), None)

    def latency(self, seconds: float) -> None:
        self._latency = seconds

    def drop(self) -> None:
        """Reset every open connection; new ones are accepted."""
        for link in list(self._links):
            link.close(abort=True)
        self._held.clear()

    async def refuse(self) -> None:
        """Reset every open connection and stop listening: new connections are refused."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.drop()
        if server is not None:
            await server.wait_closed()

    def hold(self) -> None:
        """Partition: nothing moves on open connections; new ones are accepted and go nowhere."""
        self.holding = True
        for link in self._links:
            link.update_reading()

    async def restore(self) -> None:
        """Back to ``pass``: listening, no latency, held connections released with what they buffered."""
        self._latency = 0.0
        self.holding = False
        await self.start()
        loop = asyncio.get_running_loop()
        for link in self._held:
            if not link.closed:
                link.connecting = loop.create_task(self._connect(link))
        self._held.clear()
        for link in list(self._links):
            link.update_reading()

    async def close(self) -> None:
        """Stop listening and close every connection."""
        await self.refuse()
        await asyncio.sleep(0)  # let the aborted transports call connection_lost


def _write(to: _Side, data: bytes | None) -> None:
    transport = to.transport
    if transport is None or transport.is_closing():
        return
    if data is None:
        if transport.can_write_eof():
            with contextlib.suppress(OSError):
                transport.write_eof()
        else:
            transport.close()
    else:
        transport.write(data)
