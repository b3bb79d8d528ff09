"""The scenarios: one fault each, struck at ``Plan.fault_at`` seconds into the load, healed after its
``duration``; the load goes on at least ``Plan.tail`` seconds after that.

Convergence is measured from the end of the fault (when it was healed: a killed process started again, a
link restored). ``SCENARIOS`` is the whole suite (``make chaos``); ``SHORT`` the ones
``make test`` runs, each on a shorter plan.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chaos import faults
from chaos.fleet import BACKENDS, SERVICES, Fleet
from chaos.load import Customer
from chaos.tcp_proxy import TcpProxy


@dataclass(frozen=True, slots=True)
class Plan:
    """How hard and how long: the load, when the fault strikes, how long the system gets to settle."""

    rate: float = 10.0
    """Orders per second: what this 2-core machine sustains with every email on time while the harness
    shares it (at 20/s the mailer falls behind with no fault at all; docs/reliability.md)."""
    seconds: float = 45.0
    """Length of the load, at least."""
    fault_at: float = 10.0
    tail: float = 15.0
    """Load after the fault has ended, at least."""
    deadline: float = 60.0
    """Seconds after the load for everything to settle; what is not at rest then is stuck."""
    customers: int = 20
    converge_within: float | None = 15.0
    """The bar for convergence (``None``: reported, not judged -- tests never assert on time)."""

    def load_seconds(self, fault_duration: float) -> float:
        return max(self.seconds, self.fault_at + fault_duration + self.tail)


FULL = Plan()
QUICK = Plan(rate=8.0, seconds=8.0, fault_at=2.0, tail=4.0, deadline=20.0, customers=3, converge_within=None)


@dataclass
class Strike:
    """One scenario's fault as it runs: the fleet, the clock, what the fault did."""

    fleet: Fleet
    plan: Plan
    customers: list[Customer]
    load_start: float
    """Wall-clock time the load began."""
    began: float | None = None
    ended: float | None = None
    notes: list[str] = field(default_factory=list)

    async def at(self, offset: float) -> None:
        """Sleep until ``offset`` seconds into the load."""
        await asyncio.sleep(max(0.0, self.load_start + offset - time.time()))

    def begin(self) -> None:
        self.began = time.time()

    def end(self) -> None:
        self.ended = time.time()


Action = Callable[[Strike], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Fault:
    """What is done to the fleet, from the moment it strikes until it is healed, and how long that is."""

    act: Action
    duration: float = 0.0
    """The load outlasts it by ``Plan.tail``."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    what: str
    """One sentence: the fault, as the report and docs/reliability.md show it."""
    fault: Fault
    replicas: int = 1
    only_retried: bool = False
    """Customers may see no error but what the SDK retries after a replica is lost behind a balancer
    (``audit.RETRIED_AFTER_REPLICA_LOSS``)."""

    async def strike(self, strike: Strike) -> None:
        """At ``Plan.fault_at`` into the load: the fault, timed."""
        await strike.at(strike.plan.fault_at)
        strike.begin()
        await self.fault.act(strike)
        strike.end()


async def _nothing(strike: Strike) -> None:
    pass


def kill(service: str, down: float) -> Fault:
    """kill -9 of every replica of ``service``, started again ``down`` seconds later."""

    async def act(strike: Strike) -> None:
        replicas = strike.fleet.replicas_of(service)
        for replica in replicas:
            await strike.fleet.kill(replica.name)
        await asyncio.sleep(down)
        for replica in replicas:
            await strike.fleet.restart(replica.name)

    return Fault(act, down)


async def _kill_one_replica_of_each(strike: Strike) -> None:
    for service in SERVICES:
        await strike.fleet.kill(f"{service}-1")


def on_links(
    links: Callable[[Fleet], list[TcpProxy]],
    act: Callable[[TcpProxy], Awaitable[None] | None],
    seconds: float,
) -> Fault:
    """``act`` on every link of ``links`` for ``seconds``, then restore them."""

    async def run(strike: Strike) -> None:
        for proxy in links(strike.fleet):
            if (pending := act(proxy)) is not None:
                await pending
        await asyncio.sleep(seconds)
        for proxy in links(strike.fleet):
            await proxy.restore()

    return Fault(run, seconds)


def drops(links: Callable[[Fleet], list[TcpProxy]], times: int, every: float) -> Fault:
    """Every connection of ``links`` reset ``times`` times, ``every`` seconds apart."""

    async def act(strike: Strike) -> None:
        for n in range(times):
            if n:
                await asyncio.sleep(every)
            for proxy in links(strike.fleet):
                proxy.drop()

    return Fault(act, (times - 1) * every)


def postgres_down(seconds: float) -> Fault:
    async def act(strike: Strike) -> None:
        await faults.postgres_down(strike.fleet)
        await asyncio.sleep(seconds)
        for proxy in strike.fleet.links("postgres"):
            await proxy.restore()

    return Fault(act, seconds)


def backlog_with(inject: Callable[[Fleet], Awaitable[int]], seconds: float) -> Fault:
    """The payment and notification services cut off from the broker (their queues fill up), ``inject``
    published into the backlog halfway, healed."""

    async def act(strike: Strike) -> None:
        # Not the order service: it goes on publishing order.created into the queues of the other two.
        consumers = strike.fleet.links("broker", ("payments", "notifications"))
        for proxy in consumers:
            proxy.hold()
        await asyncio.sleep(seconds / 2)
        strike.notes.append(f"{await inject(strike.fleet)} poison deliveries injected into the backlog")
        await asyncio.sleep(seconds / 2)
        for proxy in consumers:
            await proxy.restore()

    return Fault(act, seconds)


def duplicates(seconds: float, copies: int) -> Fault:
    async def act(strike: Strike) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(faults.duplicate_events(strike.fleet, copies, stop))
        await asyncio.sleep(seconds)
        stop.set()
        strike.notes.append(f"{await task} duplicate deliveries")

    return Fault(act, seconds)


async def _phantom_order(strike: Strike) -> None:
    order_id = await faults.publish_phantom_order(strike.fleet, strike.customers[0])
    strike.notes.append(f"order.created for the order {order_id}, which does not exist")


def _broker(fleet: Fleet) -> list[TcpProxy]:
    return fleet.links("broker", BACKENDS)


def _link(name: str) -> Callable[[Fleet], list[TcpProxy]]:
    return lambda fleet: [fleet.proxies[name]]


def _latency(seconds: float) -> Callable[[TcpProxy], None]:
    return lambda proxy: proxy.latency(seconds)


SCENARIOS = [
    Scenario("baseline", "No fault: the load alone.", Fault(_nothing)),
    *(
        Scenario(f"kill-{s}", f"kill -9 of the {s} service, restarted 3 s later.", kill(s, 3.0))
        for s in SERVICES
    ),
    Scenario(
        "broker-outage",
        "The broker unreachable for every service for 10 s (connections reset, new ones refused).",
        on_links(_broker, TcpProxy.refuse, 10.0),
    ),
    Scenario(
        "broker-drops",
        "Every broker connection of every service reset, three times, 3 s apart.",
        drops(_broker, 3, 3.0),
    ),
    Scenario(
        "duplicates",
        "For 15 s every event is delivered twice more to each consuming queue (same message_id).",
        duplicates(15.0, 2),
    ),
    Scenario(
        "poison-backlog",
        "Payments and notifications cut off from the broker for 8 s; poison (not JSON, schema-invalid, "
        "unknown type, no message_id) published into the backlog.",
        backlog_with(faults.publish_poison, 8.0),
    ),
    Scenario(
        "undecodable-backlog",
        "Payments and notifications cut off from the broker for 8 s; an order.created whose timestamp "
        "property no client can decode published into the backlog.",
        backlog_with(faults.publish_undecodable, 8.0),
    ),
    Scenario(
        "phantom-order",
        "An order.created for an order the order service never had.",
        Fault(_phantom_order),
    ),
    Scenario(
        "smtp-outage",
        "The mail server refuses connections for 15 s.",
        on_links(_link("notifications->smtp"), TcpProxy.refuse, 15.0),
    ),
    Scenario(
        "postgres-restart",
        "PostgreSQL restarts: every session terminated, connections refused for 3 s.",
        postgres_down(3.0),
    ),
    Scenario(
        "postgres-outage",
        "PostgreSQL down for 20 s: every session terminated, connections refused.",
        postgres_down(20.0),
    ),
    Scenario(
        "latency-payments",
        "+100 ms each way on the payment service's broker and database links for 20 s.",
        on_links(
            lambda f: f.links("broker", ("payments",)) + f.links("postgres", ("payments",)),
            _latency(0.1),
            20.0,
        ),
    ),
    Scenario(
        "partition-payments-broker",
        "The payment service partitioned from the broker for 15 s (nothing moves, nothing is reset).",
        on_links(_link("payments->broker"), TcpProxy.hold, 15.0),
    ),
    Scenario(
        "partition-orders-postgres",
        "The order service partitioned from its database for 10 s.",
        on_links(_link("orders->postgres"), TcpProxy.hold, 10.0),
    ),
    Scenario(
        "replicas",
        "Two replicas of every service; one replica of each killed (kill -9) and not restarted.",
        Fault(_kill_one_replica_of_each),
        replicas=2,
        only_retried=True,
    ),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
SHORT = ["kill-payments", "broker-drops", "undecodable-backlog"]
"""What ``make test`` runs (``QUICK``): a crash, a broker blip, poison in a backlog. (postgres-restart joins
once the notification a restart can leave PENDING, its email sent but not recorded, is dealt with: issue
18, docs/reliability.md.)"""
