"""The REST operations of ``specs/openapi.yaml``, implementing the generated ``Operations`` Protocol.

Each operation takes the typed arguments the generated route table parsed, asks the account use cases or a
backend service, and returns a typed ``Reply``; errors are raised and rendered once (``adapters.problems``).
``mypy`` checks every method against its operation's Protocol, so a spec change breaks the build here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal
from uuid import UUID

from ecommerce.rest import models
from ecommerce.rest.operations import Reply, TokenInfo
from gateway.domain import Principal
from gateway.handlers import Accounts
from gateway.ports import Backends

API_BASE_PATH = "/v1"
PRINCIPAL = "principal"
"""Key of the verified ``Principal`` in the token info the bearer check hands to connexion."""


def principal_of(token: TokenInfo) -> Principal:
    principal = token.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise TypeError("token info without a verified principal: is the bearer check installed?")
    return principal


class RestOperations:
    def __init__(
        self, accounts: Accounts, backends: Callable[[], Backends], retry_after_seconds: int
    ) -> None:
        self._accounts = accounts
        self._backends = backends
        self._retry_after = retry_after_seconds

    async def auth_register(self, *, body: models.RegisterRequest) -> Reply[models.User]:
        user = await self._accounts.register(str(body.email), body.password.get_secret_value())
        return Reply(
            201, models.User(id=user.id, email=user.email, role=user.role.value, created_at=user.created_at)
        )

    async def auth_login(self, *, body: models.LoginRequest) -> Reply[models.Token]:
        token = await self._accounts.login(str(body.email), body.password.get_secret_value())
        return Reply(
            200,
            models.Token(access_token=token.access_token, token_type="Bearer", expires_in=token.expires_in),
        )

    async def health_live(self) -> Reply[models.Health]:
        return Reply(200, models.Health(status="ok"))

    async def health_ready(self) -> Reply[models.Readiness]:
        checks = await self._backends().readiness.check()
        ready = all(status == "SERVING" for status in checks.model_dump().values())
        if ready:
            return Reply(200, models.Readiness(status="ready", checks=checks))
        return Reply(
            503,
            models.Readiness(status="not_ready", checks=checks),
            {"Retry-After": str(self._retry_after)},
        )

    async def products_list(self, *, page_size: int, page_token: str | None) -> Reply[models.ProductPage]:
        return Reply(
            200, await self._backends().orders.list_products(page_size=page_size, page_token=page_token)
        )

    async def products_get(self, *, sku: str) -> Reply[models.Product]:
        return Reply(200, await self._backends().orders.get_product(sku))

    async def orders_create(
        self, *, token: TokenInfo, body: models.CreateOrderRequest, idempotency_key: str
    ) -> Reply[models.Order]:
        placed = await self._backends().orders.create(principal_of(token), body, idempotency_key)
        headers = {
            "Location": f"{API_BASE_PATH}/orders/{placed.order.id}",
            "Idempotent-Replayed": "true" if placed.replayed else "false",
        }
        return Reply(201, placed.order, headers)

    async def orders_list(
        self,
        *,
        token: TokenInfo,
        page_size: int,
        page_token: str | None,
        status: Literal["PENDING", "PAID", "CANCELLED"] | None,
    ) -> Reply[models.OrderPage]:
        page = await self._backends().orders.list(
            principal_of(token), page_size=page_size, page_token=page_token, status=status
        )
        return Reply(200, page)

    async def orders_get(self, *, token: TokenInfo, order_id: UUID) -> Reply[models.Order]:
        return Reply(200, await self._backends().orders.get(principal_of(token), order_id))

    async def orders_cancel(self, *, token: TokenInfo, order_id: UUID) -> Reply[models.Order]:
        return Reply(200, await self._backends().orders.cancel(principal_of(token), order_id))

    async def orders_payment(self, *, token: TokenInfo, order_id: UUID) -> Reply[models.Payment]:
        return Reply(200, await self._backends().payments.get(principal_of(token), order_id))

    async def notifications_list(
        self, *, token: TokenInfo, page_size: int, page_token: str | None, order_id: UUID | None
    ) -> Reply[models.NotificationPage]:
        page = await self._backends().notifications.list(
            principal_of(token), page_size=page_size, page_token=page_token, order_id=order_id
        )
        return Reply(200, page)
