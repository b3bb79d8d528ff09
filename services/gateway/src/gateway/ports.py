"""The ports the gateway's use cases need. Adapters implement them (SQLAlchemy, argon2, PyJWT, gRPC);
unit tests use in-memory fakes (``tests/gateway_fakes.py``).

The backend ports speak the REST models generated from ``specs/openapi.yaml``: the gateway is the
translation layer between them and the services' protobuf messages, which stay inside ``adapters/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol
from uuid import UUID

from ecommerce.rest import models
from gateway.domain import IssuedToken, Principal, Role, User

OrderStatusFilter = Literal["PENDING", "PAID", "CANCELLED"]


class Users(Protocol):
    """The gateway's own user accounts."""

    async def add(self, user: User) -> None:
        """Raises ``EmailAlreadyRegistered`` when the (normalized) email is taken."""
        ...

    async def by_email(self, email: str) -> User | None: ...

    async def by_id(self, user_id: UUID) -> User | None: ...

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None: ...

    async def set_role(self, user_id: UUID, role: Role) -> None: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if ``password`` matches. With ``None`` (no such user) it spends the same time and is False,
        so response times do not reveal which email addresses are registered."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says: whose it is (``sub``), its id and when it expires."""

    user_id: UUID
    role: Role
    token_id: str
    expires_at: int


class TokenCodec(Protocol):
    def issue(self, user: User) -> IssuedToken: ...

    def verify(self, token: str) -> TokenClaims:
        """The claims of a token this gateway issued and that is valid now; else ``InvalidToken``."""
        ...


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order: models.Order
    replayed: bool


class OrdersBackend(Protocol):
    """The Order Service: catalog and orders."""

    async def create(
        self, caller: Principal, request: models.CreateOrderRequest, idempotency_key: str
    ) -> PlacedOrder: ...

    async def get(self, caller: Principal, order_id: UUID) -> models.Order: ...

    async def list(
        self, caller: Principal, *, page_size: int, page_token: str | None, status: OrderStatusFilter | None
    ) -> models.OrderPage: ...

    async def cancel(self, caller: Principal, order_id: UUID) -> models.Order: ...

    async def list_products(self, *, page_size: int, page_token: str | None) -> models.ProductPage: ...

    async def get_product(self, sku: str) -> models.Product: ...


class PaymentsBackend(Protocol):
    async def get(self, caller: Principal, order_id: UUID) -> models.Payment: ...


class NotificationsBackend(Protocol):
    async def list(
        self, caller: Principal, *, page_size: int, page_token: str | None, order_id: UUID | None
    ) -> models.NotificationPage: ...


class Readiness(Protocol):
    async def check(self) -> models.ReadinessChecks:
        """The health of every backend service, asked now."""
        ...


@dataclass(frozen=True, slots=True)
class Backends:
    """The services behind the gateway (connected at start, so operations reach them through a getter)."""

    orders: OrdersBackend
    payments: PaymentsBackend
    notifications: NotificationsBackend
    readiness: Readiness
