"""Where the local stack listens and how its processes find each other.

``resolve_addresses`` reads every address setting once, from layers in priority order (a test's own ports,
or the environment over ``.env``) over the services' defaults. The gateway's ``GATEWAY_*_ADDR`` and the
notification service's ``NOTIFICATIONS_SMTP_HOST``/``_PORT`` follow the binds of what they call unless set
explicitly; an explicit ``GATEWAY_*_ADDR`` that misses its service is an error. ``check_ports_free`` names
the setting to change for every address the stack cannot listen on.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass

BINDS = {
    "GATEWAY_HTTP_BIND": "127.0.0.1:8000",
    "ORDERS_GRPC_BIND": "127.0.0.1:50051",
    "PAYMENTS_GRPC_BIND": "127.0.0.1:50052",
    "NOTIFICATIONS_GRPC_BIND": "127.0.0.1:50053",
}
"""The services' binds and their defaults."""
GATEWAY_BACKENDS = {
    "GATEWAY_ORDERS_ADDR": "ORDERS_GRPC_BIND",
    "GATEWAY_PAYMENTS_ADDR": "PAYMENTS_GRPC_BIND",
    "GATEWAY_NOTIFICATIONS_ADDR": "NOTIFICATIONS_GRPC_BIND",
}
"""Where the gateway calls a service -> the bind of that service."""
SINK_PORT, DEFAULT_SINK_PORT, SINK_HOST = "DEV_SMTP_PORT", 1025, "127.0.0.1"
SMTP_HOST, SMTP_PORT = "NOTIFICATIONS_SMTP_HOST", "NOTIFICATIONS_SMTP_PORT"
BASE_URL = "ECOMMERCE_BASE_URL"
WILDCARDS = {"0.0.0.0", "[::]", "::"}
LOOPBACKS = {"127.0.0.1", "localhost", "[::1]", "::1"}

Layer = tuple[str, Mapping[str, str]]
"""Settings and the name of their source in messages, e.g. ``("the environment", os.environ)``."""


class AddressError(Exception):
    """Address settings the stack cannot start with; the message names each setting to change."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Cannot start the stack:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Address:
        """``host:port`` (an IPv6 host in brackets); raises ``ValueError`` saying what is wrong."""
        host, separator, port = text.rpartition(":")
        if not separator or not host or not port.isdigit():
            raise ValueError("is not host:port")
        if not 1 <= int(port) <= 65535:
            raise ValueError("has a port outside 1-65535")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def client_address(self) -> Address:
        """What a client on this machine calls to reach a server bound here."""
        if self.host in WILDCARDS:
            return Address("[::1]" if ":" in self.host else "127.0.0.1", self.port)
        return self

    def reaches(self, bind: Address) -> bool:
        """Whether calling this address reaches a server bound at ``bind``, as far as the names tell."""
        if self.port != bind.port:
            return False
        return bind.host in WILDCARDS or self.host == bind.host or {self.host, bind.host} <= LOOPBACKS


@dataclass(frozen=True, slots=True)
class Setting:
    """One address setting as the stack uses it, and where its value came from."""

    name: str
    value: str
    source: str


@dataclass(frozen=True, slots=True)
class StackAddresses:
    """Every address setting of one stack: what its processes get and what ``make run`` prints."""

    settings: tuple[Setting, ...]

    def environment(self) -> dict[str, str]:
        return {setting.name: setting.value for setting in self.settings}

    def binds(self) -> dict[str, Address]:
        """setting -> address, for everything the stack listens on (the mail sink on 127.0.0.1)."""
        values = self.environment()
        binds = {name: Address.parse(values[name]) for name in BINDS}
        return {**binds, SINK_PORT: Address(SINK_HOST, int(values[SINK_PORT]))}

    @property
    def gateway_url(self) -> str:
        """The base URL of the REST API, as a client on this machine calls it."""
        return f"http://{self.binds()['GATEWAY_HTTP_BIND'].client_address()}/v1"

    @property
    def smtp_server(self) -> Address:
        """Where the notification service sends mail."""
        values = self.environment()
        return Address(values[SMTP_HOST], int(values[SMTP_PORT]))

    def smtp_warning(self) -> str | None:
        """What to say when the notification service sends to this machine, but not to the mail sink."""
        smtp, sink = self.smtp_server, self.binds()[SINK_PORT]
        if smtp.host not in LOOPBACKS | WILDCARDS or smtp.reaches(sink):
            return None
        return (
            f"{SMTP_HOST}/_PORT point at {smtp}, not at the dev mail sink on {sink} ({SINK_PORT}): emails "
            f"go there. Unset them to send to the sink, or set {SINK_PORT}={smtp.port} to move the sink."
        )

    def describe(self) -> str:
        """One line per setting: name, value, where the value came from."""
        width = max(len(setting.name) for setting in self.settings)
        return "\n".join(f"    {s.name:<{width}}  {s.value:<21}  {s.source}" for s in self.settings)


@dataclass(frozen=True, slots=True)
class Ports:
    """The ports of a stack on 127.0.0.1 that a test chooses."""

    gateway_http: int
    orders_grpc: int
    payments_grpc: int
    notifications_grpc: int
    smtp: int

    @classmethod
    def free(cls) -> Ports:
        """Ports nothing listens on right now (for tests that run a stack beside another)."""
        sockets = [socket.socket() for _ in range(5)]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            return cls(*(sock.getsockname()[1] for sock in sockets))
        finally:
            for sock in sockets:
                sock.close()

    def addresses(self) -> StackAddresses:
        """The stack on these ports, whatever the environment says."""
        ports = (self.gateway_http, self.orders_grpc, self.payments_grpc, self.notifications_grpc)
        binds = {name: f"127.0.0.1:{port}" for name, port in zip(BINDS, ports, strict=True)}
        return resolve_addresses(("the test's ports", {**binds, SINK_PORT: str(self.smtp)}))


def resolve_addresses(*layers: Layer) -> StackAddresses:
    """The stack's addresses from ``layers`` (the first that sets a name wins; empty is unset) over the
    services' defaults. Raises ``AddressError`` naming every setting that is malformed or would send the
    gateway past its service."""

    def lookup(name: str) -> tuple[str, str] | None:
        for source, values in layers:
            if value := values.get(name, "").strip():
                return value, source
        return None

    settings: dict[str, Setting] = {}
    binds: dict[str, Address] = {}
    problems: list[str] = []
    for name, default in [*BINDS.items(), (SINK_PORT, str(DEFAULT_SINK_PORT))]:
        value, source = lookup(name) or (default, "default")
        settings[name] = Setting(name, value, source)
        try:
            binds[name] = Address.parse(f"{SINK_HOST}:{value}" if name == SINK_PORT else value)
        except ValueError as reason:
            problems.append(f"{name}={value} ({source}) {'is not a port' if name == SINK_PORT else reason}.")
    if problems:
        raise AddressError(problems)

    for name, bind_name in GATEWAY_BACKENDS.items():
        derived = (str(binds[bind_name].client_address()), f"follows {bind_name}")
        value, source = lookup(name) or derived
        settings[name] = Setting(name, value, source)
        try:
            reaches = Address.parse(value).reaches(binds[bind_name])
        except ValueError as reason:
            problems.append(f"{name}={value} ({source}) {reason}.")
            continue
        if not reaches:
            problems.append(
                f"{name}={value} ({source}) does not reach {bind_name}={binds[bind_name]}: the gateway "
                f"would not find the service. Unset {name} (it follows {bind_name}) or make the two agree."
            )
    sink = binds[SINK_PORT]
    for name, default in ((SMTP_HOST, sink.host), (SMTP_PORT, str(sink.port))):
        value, source = lookup(name) or (default, f"follows {SINK_PORT}")
        settings[name] = Setting(name, value, source)
    if not settings[SMTP_PORT].value.isdigit():
        problems.append(
            f"{SMTP_PORT}={settings[SMTP_PORT].value} ({settings[SMTP_PORT].source}) is not a port."
        )
    if problems:
        raise AddressError(problems)
    return StackAddresses(tuple(settings.values()))


def api_base_url(*layers: Layer) -> Setting:
    """The API a client on this machine calls (the SDK, ``make demo``): ``ECOMMERCE_BASE_URL`` if set,
    else the gateway of the stack that ``layers`` start."""
    for source, values in layers:
        if value := values.get(BASE_URL, "").strip():
            return Setting(BASE_URL, value.rstrip("/"), source)
    return Setting(BASE_URL, resolve_addresses(*layers).gateway_url, "follows GATEWAY_HTTP_BIND")


def check_ports_free(addresses: StackAddresses) -> None:
    """Raises ``AddressError`` naming the setting of every address that two settings share, that is in
    use, or that cannot be listened on here."""
    problems = []
    binds = addresses.binds()
    sources = {setting.name: setting.source for setting in addresses.settings}
    seen: dict[int, str] = {}
    reserved = {bind.port for bind in binds.values()}  # no suggestion collides with another setting
    for name, bind in binds.items():
        other = seen.setdefault(bind.port, name)
        if other != name and (bind.reaches(binds[other]) or binds[other].reaches(bind)):
            problems.append(f"{name} and {other} both use port {bind.port}: change one of them.")
            continue
        if (reason := _cannot_listen(bind)) is None:
            continue
        value = str(bind.port) if name == SINK_PORT else str(bind)
        hint = ""
        if (port := _free_port_after(bind, reserved)) is not None:
            reserved.add(port)
            hint = f", e.g. {name}={port if name == SINK_PORT else Address(bind.host, port)}"
        problems.append(
            f"{name}={value} ({sources[name]}): {bind} {reason}. Set {name} in .env or the environment "
            f"to a free {'port' if name == SINK_PORT else 'address'}{hint}."
        )
    if problems:
        raise AddressError(problems)


def _cannot_listen(bind: Address) -> str | None:
    """Why a server could not listen at ``bind`` now, or None if it could."""
    try:
        infos = socket.getaddrinfo(
            bind.host.strip("[]"), bind.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        return f"is not an address of this machine ({error.strerror})"
    failures = []
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            # As the servers do: a port a stopped stack left in TIME_WAIT is free to listen on.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return "is already in use (by another `make run`, or another program)"
                failures.append(error.strerror)
    if len(failures) == len(infos):  # a server listens if one of a name's addresses works (localhost)
        return f"cannot be listened on ({failures[0]})"
    return None


def _free_port_after(bind: Address, reserved: set[int]) -> int | None:
    for port in range(bind.port + 1, min(bind.port + 100, 65536)):
        if port not in reserved and _cannot_listen(Address(bind.host, port)) is None:
            return port
    return None
