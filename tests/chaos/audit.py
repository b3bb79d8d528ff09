"""The verdict on one run: what the customers were told against what the system's books say.

- **accepted**: orders a customer got a 201 for. **gave up**: orders whose customer stopped retrying.
  **unacknowledged**: orders in the database their customer never got a 201 for (told it failed, charged).
- **lost**: an accepted order the orders database does not have, or an email that should exist and does
  not (a terminal order without its ``order_received`` and ``order_paid``/``order_cancelled`` notification,
  a notification FAILED, or SENT with no message in the sink).
- **duplicated charges**: more than one successful charge in the provider's ledger for one order.
- **duplicated emails**: a Message-ID the sink received more than once (it is derived from the
  notification, so every retry of one notification carries the same one).
- **stuck**: an order still PENDING, a notification still PENDING, or an event still in an outbox, at the
  deadline.
- **dead-lettered**: messages in a DLQ at the end that the fault did not inject (injected poison carries
  the ``x-chaos-injected`` header; a message whose properties do not decode can only come from the fault,
  whether it lies in the DLQ as it was or a consumer dead-lettered a copy saying so).
- **money anomalies**: an order whose money, charged minus refunded in the ledger, is not its total when
  PAID or zero when CANCELLED or when the order does not exist; or ledger money no payment accounts for.
- **relay retries**: the most failed passes of one outbox relay (it must back off: ``RELAY_RETRIES_BAR``).
- **errors**: every attempt the customers' SDK made that was answered with a 4xx/5xx or not at all
  (cancelling an order already paid, 409, is an answer, not an error).
- **converge**: seconds from the end of the fault until the last order settled: terminal, every email in
  the sink, money balanced. Each order counts from ``max(its 201, the end of the fault)`` (the baseline's
  "fault" is an instant at ``Plan.fault_at``, so there it is the slowest order's time to settle).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from chaos.amqp_wire import RawMessage
from chaos.evidence import BrokerState, Notification, Snapshot
from chaos.load import PlacedOrder

TERMINAL = frozenset({"PAID", "CANCELLED"})
REQUIRED_EMAILS = {
    "PAID": frozenset({"order_received", "order_paid"}),
    "CANCELLED": frozenset({"order_received", "order_cancelled"}),
}
INJECTED_HEADER = "x-chaos-injected"
RELAY_RETRIES_BAR = 20
"""Failed passes of an outbox relay in one run: backing off from 0.5 s, doubling to 30 s, it fails about 6
times in a 10 s broker outage; one that retries on every new event fails hundreds of times."""
NEVER_DURING_FAULTS = frozenset({"500", "502"})
RETRIED_AFTER_REPLICA_LOSS = frozenset({"503", "connection"})
"""What customers may see when a replica dies behind a balancer, the SDK retrying it with the same key: a
503, and the reset of a request that was in flight on a gateway replica killed with -9 (a dead process
answers nothing, let alone a 503). A customer who gives up in the end fails the scenario anyway."""


@dataclass
class Books:
    """A snapshot indexed per order: money moved, notifications, mails."""

    snapshot: Snapshot
    captured: Counter[str] = field(default_factory=Counter)
    refunded: Counter[str] = field(default_factory=Counter)
    charges: Counter[str] = field(default_factory=Counter)
    money_moved_at: dict[str, float] = field(default_factory=dict)
    unaccounted: list[str] = field(default_factory=list)
    """Ledger money no payment of the run accounts for."""
    notes: defaultdict[str, list[Notification]] = field(default_factory=lambda: defaultdict(list))
    arrivals: dict[str, float] = field(default_factory=dict)
    """Notification -> when its (first) message reached the sink."""

    def __post_init__(self) -> None:
        for note in self.snapshot.notifications:
            self.notes[note.order_id].append(note)
        for mail in self.snapshot.mails:
            self.arrivals[mail.notification_id] = min(
                mail.arrived_at, self.arrivals.get(mail.notification_id, mail.arrived_at)
            )
        owner: dict[str, str] = {}  # idempotency key or charge reference -> order
        for payment in self.snapshot.payments:
            owner[payment.id] = owner[payment.order_id] = payment.order_id
            if payment.provider_reference:
                owner[payment.provider_reference] = payment.order_id
        succeeded = [entry for entry in self.snapshot.ledger if entry.outcome == "succeeded"]
        for entry in sorted(succeeded, key=lambda e: e.operation != "charge"):  # charges first
            if entry.operation == "charge":
                order = owner.get(entry.key) or owner.get(entry.reference or "")
                if order is not None and entry.reference:
                    owner[entry.reference] = order
            else:
                order = owner.get(entry.charge_reference or "") or owner.get(
                    entry.key.removeprefix("refund-")
                )
            if order is None:
                self.unaccounted.append(f"{entry.operation} {entry.reference} of {entry.amount_minor}")
                continue
            book = self.captured if entry.operation == "charge" else self.refunded
            book[order] += entry.amount_minor
            self.charges[order] += entry.operation == "charge"
            self.money_moved_at[order] = max(self.money_moved_at.get(order, 0.0), entry.created_at)

    def net(self, order_id: str) -> int:
        return self.captured[order_id] - self.refunded[order_id]

    def money_balanced(self, order_id: str) -> bool | None:
        """Whether the order's money is what its state says; ``None`` while it is PENDING."""
        order = self.snapshot.orders.get(order_id)
        if order is not None and order.status not in TERMINAL:
            return None
        expected = order.total_minor if order is not None and order.status == "PAID" else 0
        return self.net(order_id) == expected

    def payments_of_unknown_orders(self) -> list[str]:
        return sorted({p.order_id for p in self.snapshot.payments} - set(self.snapshot.orders))

    def settled_at(self, order_id: str) -> float | None:
        """When the order came to rest (terminal, its emails in the sink, money balanced), else ``None``."""
        order = self.snapshot.orders.get(order_id)
        if order is None or order.status not in TERMINAL or not self.money_balanced(order_id):
            return None
        notes = self.notes[order_id]
        if not REQUIRED_EMAILS[order.status] <= {n.template for n in notes}:
            return None
        times = [order.updated_at, self.money_moved_at.get(order_id, 0.0)]
        for note in notes:
            if note.status != "SENT" or note.id not in self.arrivals:
                return None
            times.append(max(note.sent_at or 0.0, self.arrivals[note.id]))
        return max(times)

    def unpublished(self) -> list[str]:
        return [f"{service} outbox: {n}" for service, (n, _) in self.snapshot.outbox.items() if n]

    def unsettled(self, order_ids: list[str]) -> list[str]:
        """The orders of ``order_ids`` not at rest, payments of unknown orders with money left, events
        left in an outbox."""
        waiting = [order_id for order_id in order_ids if self.settled_at(order_id) is None]
        unknown = [o for o in self.payments_of_unknown_orders() if not self.money_balanced(o)]
        return waiting + unknown + self.unpublished()


@dataclass
class Audit:
    """The counts of the report (see the module docstring); ``details`` says which orders and why."""

    sent: int
    accepted: int
    gave_up: dict[str, int]
    unacknowledged: int
    lost_orders: int
    lost_emails: int
    duplicated_charges: int
    duplicated_emails: int
    stuck: int
    dead_lettered: int
    injected_dead_lettered: int
    money_anomalies: int
    relay_retries: int
    """The most failed passes of one service's outbox relay."""
    errors: dict[str, int]
    converge_s: float | None
    details: dict[str, object]

    def problems(self, *, only_retried: bool = False, converge_within: float | None = None) -> list[str]:
        """Why this run fails the bar (empty: it passes)."""
        counts = {
            "lost orders": self.lost_orders,
            "lost emails": self.lost_emails,
            "duplicated charges": self.duplicated_charges,
            "duplicated emails": self.duplicated_emails,
            "stuck": self.stuck,
            "dead-lettered": self.dead_lettered,
            "money anomalies": self.money_anomalies,
            "customers gave up": sum(self.gave_up.values()),
            "orders placed that their customer was never told about": self.unacknowledged,
        }
        problems = [f"{n} {what}" for what, n in counts.items() if n]
        if self.relay_retries > RELAY_RETRIES_BAR:
            problems.append(f"an outbox relay failed {self.relay_retries} passes (it does not back off)")
        forbidden = {
            s: n
            for s, n in self.errors.items()
            if s in NEVER_DURING_FAULTS or (only_retried and s not in RETRIED_AFTER_REPLICA_LOSS)
        }
        if forbidden:
            problems.append(f"client-visible errors {forbidden}")
        if converge_within is not None and (self.converge_s is None or self.converge_s > converge_within):
            shown = "never" if self.converge_s is None else f"{self.converge_s:.1f} s"
            problems.append(f"converged {shown} (> {converge_within:.0f} s)")
        return problems


def judge(
    placed: list[PlacedOrder],
    attempts: Counter[tuple[str, str]],
    books: Books,
    broker: BrokerState,
    fault_end: float,
) -> Audit:
    snapshot = books.snapshot
    accepted = {o.order_id: o for o in placed if o.order_id is not None}
    lost_orders = sorted(set(accepted) - set(snapshot.orders))
    unacknowledged = sorted(set(snapshot.orders) - set(accepted))  # placed, but the customer never heard

    delivered = Counter(m.message_id for m in snapshot.mails)
    missing = [
        f"{order.id} {template}"
        for order in snapshot.orders.values()
        if order.status in TERMINAL
        for template in sorted(REQUIRED_EMAILS[order.status] - {n.template for n in books.notes[order.id]})
    ]
    undelivered = [
        f"{n.order_id} {n.template} {n.status}"
        for n in snapshot.notifications
        if n.status == "FAILED" or (n.status == "SENT" and n.id not in books.arrivals)
    ]
    stuck_orders = sorted(o.id for o in snapshot.orders.values() if o.status not in TERMINAL)
    stuck_notes = [
        f"{n.order_id} {n.template}"
        + (" (its email is in the sink already)" if n.id in books.arrivals else "")
        for n in snapshot.notifications
        if n.status == "PENDING"
    ]

    known = set(snapshot.orders) | set(books.payments_of_unknown_orders())
    unbalanced = [
        f"{order_id}: {order.status if (order := snapshot.orders.get(order_id)) else 'no such order'}, "
        f"charged {books.captured[order_id]}, refunded {books.refunded[order_id]}"
        for order_id in sorted(known)
        if books.money_balanced(order_id) is False
    ]

    injected, unexpected = 0, Counter[str]()
    for dlq, messages in broker.dead_letters.items():
        for message in messages:
            if _injected(message):
                injected += 1
            else:
                kind = message.properties.message_type if message.properties is not None else None
                unexpected[f"{dlq}: {kind} ({_reason(message)})"] += 1

    errors = Counter[str]()
    for (operation, outcome), n in attempts.items():
        if not outcome.startswith("2") and (operation, outcome) != ("cancel", "409"):
            errors[outcome] += n
    converge, timing = _timing(accepted, books, fault_end)
    return Audit(
        sent=len(placed),
        accepted=len(accepted),
        gave_up=dict(Counter(o.outcome for o in placed if o.outcome != "201")),
        unacknowledged=len(unacknowledged),
        lost_orders=len(lost_orders),
        lost_emails=len(missing) + len(undelivered),
        duplicated_charges=sum(n - 1 for n in books.charges.values() if n > 1),
        duplicated_emails=sum(n - 1 for n in delivered.values() if n > 1),
        stuck=len(stuck_orders) + len(stuck_notes) + len(books.unpublished()),
        dead_lettered=sum(unexpected.values()),
        injected_dead_lettered=injected,
        money_anomalies=len(unbalanced) + len(books.unaccounted),
        relay_retries=max((failed for _, failed in snapshot.outbox.values()), default=0),
        errors=dict(errors),
        converge_s=converge,
        details={
            "lost_orders": lost_orders,
            "unacknowledged_orders": unacknowledged,
            "missing_emails": missing,
            "undelivered_emails": undelivered,
            "duplicated_message_ids": sorted(m for m, n in delivered.items() if n > 1),
            "stuck_orders": stuck_orders,
            "stuck_notifications": stuck_notes,
            "stuck_events": books.unpublished(),
            "relay_retries": {service: failed for service, (_, failed) in snapshot.outbox.items()},
            "dead_letters": dict(unexpected),
            "money": unbalanced + books.unaccounted,
            "captured_minor": sum(books.captured.values()),
            "refunded_minor": sum(books.refunded.values()),
            "paid_total_minor": sum(o.total_minor for o in snapshot.orders.values() if o.status == "PAID"),
            "attempts": {f"{op} {outcome}": n for (op, outcome), n in sorted(attempts.items())},
            "cancellations": dict(Counter(o.cancel for o in placed if o.cancel is not None)),
            "queues_left": broker.backlog,
            **timing,
        },
    )


def _timing(
    accepted: dict[str, PlacedOrder], books: Books, fault_end: float
) -> tuple[float | None, dict[str, object]]:
    """Convergence (``None``: something never settled), latency quantiles and the slowest orders. Each
    order counts from ``max(its 201, the end of the fault)``."""
    orders = books.snapshot.orders
    placed_at = {i: order.accepted_at or 0.0 for i, order in accepted.items()}
    since = {i: max(at, fault_end) for i, at in placed_at.items()}
    settled = {i: at for i in accepted if (at := books.settled_at(i)) is not None}
    latencies = {
        "terminal": [orders[i].updated_at - placed_at[i] for i in accepted if i in orders],
        "settled": [at - placed_at[i] for i, at in settled.items()],
    }
    slowest = sorted(settled, key=lambda i: settled[i] - since[i], reverse=True)[:3]
    unsettled = books.unsettled(list(accepted))
    converge = None if unsettled else max([0.0, *(at - since[i] for i, at in settled.items())])
    return converge, {
        "latency_s": {what: quantiles(values) for what, values in latencies.items()},
        "slowest_to_settle": [
            f"{i} {orders[i].status}: terminal after {orders[i].updated_at - since[i]:.1f} s, "
            f"settled after {settled[i] - since[i]:.1f} s"
            for i in slowest
        ],
        "unsettled": unsettled[:20],
    }


def _reason(message: RawMessage) -> str:
    return message.header("x-dead-letter-reason") or message.header("x-first-death-reason") or "unknown"


def _injected(message: RawMessage) -> bool:
    """Whether the fault put ``message`` in a DLQ: it carries the fault's header, or its properties do not
    decode -- as it sits there, or as the consumer that dead-lettered a copy says (the copy lost the
    original's headers with them). Nothing but the fault makes such a message."""
    if message.properties is None or message.header(INJECTED_HEADER):
        return True
    reason = _reason(message).lower()
    return "undecodable" in reason or "unmarshal" in reason


def quantiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of ``values`` (seconds, rounded), ``{}`` when there are none."""
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.5), "p99": at(0.99), "max": at(1.0)}
