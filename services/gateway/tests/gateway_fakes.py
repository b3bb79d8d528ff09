"""In-memory fakes of the gateway's ports, for unit tests (no database, no gRPC, no slow hashing)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import argon2

from ecommerce.rest import models
from gateway.adapters.passwords import Argon2Hasher
from gateway.adapters.problems import ApiProblem
from gateway.bootstrap import GatewaySettings
from gateway.domain import EmailAlreadyRegistered, Principal, Role, User
from gateway.ports import Backends, OrderStatusFilter, PlacedOrder

SECRET = "test-secret-" + "0123456789abcdef" * 4  # 76 bytes: long enough for HS512 in tests too
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def cheap_hasher() -> Argon2Hasher:
    """Real argon2id with its cheapest parameters, so that tests register users quickly."""
    return Argon2Hasher(argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST))


def settings(**overrides: Any) -> GatewaySettings:
    """Valid settings for tests (``overrides`` win); nothing is read from a real deployment. Tests check
    every response against the spec, and see account changes at once (no account cache)."""
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "log_level": "INFO",
        "validate_responses": True,
        "account_cache_seconds": 0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[UUID, User] = {}

    async def add(self, user: User) -> None:
        if any(u.email == user.email for u in self.rows.values()):
            raise EmailAlreadyRegistered()
        self.rows[user.id] = user

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self.rows.values() if u.email == email), None)

    async def by_id(self, user_id: UUID) -> User | None:
        return self.rows.get(user_id)

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        self.rows[user_id] = dataclasses.replace(self.rows[user_id], password_hash=password_hash)

    async def set_role(self, user_id: UUID, role: Role) -> None:
        self.rows[user_id] = dataclasses.replace(self.rows[user_id], role=role)


class FakeHasher:
    """``sha256:<hex>``; records every verification, including the dummy one for unknown emails."""

    def __init__(self, *, outdated_prefix: str | None = None) -> None:
        self.verified: list[str | None] = []
        self.outdated_prefix = outdated_prefix

    async def hash(self, password: str) -> str:
        return "sha256:" + hashlib.sha256(password.encode()).hexdigest()

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verified.append(password_hash)
        return (
            password_hash is not None
            and password_hash.split(":")[-1] == (await self.hash(password)).split(":")[-1]
        )

    def needs_rehash(self, password_hash: str) -> bool:
        return self.outdated_prefix is not None and password_hash.startswith(self.outdated_prefix)


def order(owner: Principal | None = None, **changes: Any) -> models.Order:
    values: dict[str, Any] = {
        "id": uuid4(),
        "status": "PENDING",
        "items": [
            {
                "sku": "MUG-001",
                "name": "Mug",
                "quantity": 2,
                "unit_price": {"amount_minor": 1250, "currency": "EUR"},
                "line_total": {"amount_minor": 2500, "currency": "EUR"},
            }
        ],
        "total": {"amount_minor": 2500, "currency": "EUR"},
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return models.Order.model_validate(values)


@dataclasses.dataclass
class FakeOrders:
    """Answers from ``orders``; ``fail`` (if set) is raised by every call, like a backend error would be."""

    orders: dict[UUID, tuple[UUID, models.Order]] = dataclasses.field(default_factory=dict)
    keys: dict[tuple[UUID, str], tuple[str, UUID]] = dataclasses.field(default_factory=dict)
    fail: Exception | None = None
    calls: list[str] = dataclasses.field(default_factory=list)

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.fail is not None:
            raise self.fail

    async def create(
        self, caller: Principal, request: models.CreateOrderRequest, idempotency_key: str
    ) -> PlacedOrder:
        self._enter("create")
        fingerprint = request.model_dump_json()
        known = self.keys.get((caller.user_id, idempotency_key))
        if known is not None:
            if known[0] != fingerprint:
                raise ApiProblem(422, "idempotency key reused")
            return PlacedOrder(self.orders[known[1]][1], replayed=True)
        placed = order()
        self.orders[placed.id] = (caller.user_id, placed)
        self.keys[(caller.user_id, idempotency_key)] = (fingerprint, placed.id)
        return PlacedOrder(placed, replayed=False)

    async def get(self, caller: Principal, order_id: UUID) -> models.Order:
        self._enter("get")
        owner, found = self.orders.get(order_id, (None, None))
        if found is None or (owner != caller.user_id and caller.role is not Role.ADMIN):
            raise ApiProblem(404, f"order {order_id} not found")
        return found

    async def list(
        self, caller: Principal, *, page_size: int, page_token: str | None, status: OrderStatusFilter | None
    ) -> models.OrderPage:
        self._enter("list")
        mine = [o for owner, o in self.orders.values() if owner == caller.user_id]
        return models.OrderPage(items=mine[:page_size])

    async def cancel(self, caller: Principal, order_id: UUID) -> models.Order:
        self._enter("cancel")
        found = await self.get(caller, order_id)
        return found.model_copy(update={"status": "CANCELLED", "cancellation_reason": "customer_request"})

    async def list_products(self, *, page_size: int, page_token: str | None) -> models.ProductPage:
        self._enter("list_products")
        return models.ProductPage(items=[])

    async def get_product(self, sku: str) -> models.Product:
        self._enter("get_product")
        raise ApiProblem(404, f"product {sku} does not exist")


class FakePayments:
    async def get(self, caller: Principal, order_id: UUID) -> models.Payment:
        raise ApiProblem(404, f"no payment for order {order_id}")


class FakeNotifications:
    async def list(
        self, caller: Principal, *, page_size: int, page_token: str | None, order_id: UUID | None
    ) -> models.NotificationPage:
        return models.NotificationPage(items=[])


@dataclasses.dataclass
class FakeReadiness:
    checks: dict[str, str] = dataclasses.field(
        default_factory=lambda: {"orders": "SERVING", "payments": "SERVING", "notifications": "SERVING"}
    )

    async def check(self) -> models.ReadinessChecks:
        return models.ReadinessChecks.model_validate(self.checks)


def fake_backends(orders: FakeOrders | None = None, readiness: FakeReadiness | None = None) -> Backends:
    return Backends(orders or FakeOrders(), FakePayments(), FakeNotifications(), readiness or FakeReadiness())
