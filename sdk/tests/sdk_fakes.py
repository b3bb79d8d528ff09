"""Test doubles for the SDK: a clock that never waits, and an in-memory API behind ``httpx.MockTransport``.

``FakeAPI`` answers like the gateway described by ``specs/openapi.yaml`` (problem+json errors, request ids,
cursor pages, idempotent ``POST /orders``), with its saga collapsed: an order paid with ``tok_success``
is ``PAID`` when it is next read, one paid with ``tok_declined`` is ``CANCELLED``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx

from ecommerce_sdk import Clock

JSON = dict[str, Any]
NOW = "2026-11-29T10:00:00Z"
BASE_URL = "https://api.example.test/v1"
EMAIL = "ada@example.com"
PASSWORD = "correct-horse-battery-staple"


class FakeClock(Clock):
    """Time that moves only when the code under test sleeps; records every sleep."""

    def __init__(self, *, epoch: float = 1_790_000_000.0, jitter: float = 0.0) -> None:
        self.epoch = epoch
        self.elapsed = 0.0
        self.jitter = jitter
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.elapsed

    def time(self) -> float:
        return self.epoch + self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def random(self) -> float:
        return self.jitter


def problem(
    status: int, title: str, detail: str, request_id: str | None = None, **extra: Any
) -> httpx.Response:
    """An RFC 9457 error response, as the gateway sends them (``FakeAPI`` adds the request id)."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"Content-Type": "application/problem+json"}
    if request_id is not None:
        body["request_id"] = headers["X-Request-ID"] = request_id
    return httpx.Response(status, headers=headers, content=json.dumps(body))


def money(amount_minor: int) -> JSON:
    return {"amount_minor": amount_minor, "currency": "EUR"}


CATALOG: list[JSON] = [
    {"sku": sku, "name": name, "description": "", "unit_price": money(price), "stock_available": stock}
    for sku, name, price, stock in [
        ("BOOK-042", "Hitchhiker's guide", 1999, 5),
        ("LTD-001", "Limited print", 15000, 10),
        ("MUG-001", "Coffee mug", 1250, 42),
        ("PEN-100", "Fountain pen", 4200, 10),
        ("TEE-042", "Organic cotton T-shirt", 2400, 300),
    ]
]


@dataclass
class FakeAPI:
    """The e-commerce API in memory; ``transport`` plugs it into an ``httpx`` client."""

    page_size: int = 20
    users: dict[str, JSON] = field(default_factory=dict)  # email -> user (with password)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> email
    orders: dict[str, JSON] = field(default_factory=dict)
    notifications: list[JSON] = field(default_factory=list)
    idempotency: dict[tuple[str, str], tuple[bytes, JSON]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def seed_user(self, email: str, password: str) -> str:
        """Registers ``email`` and returns a valid access token for it."""
        self.users[email] = {"id": str(uuid4()), "email": email, "password": password}
        token = f"fake.{uuid4().hex}.sig"
        self.tokens[token] = email
        return token

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        request_id = f"req-{len(self.requests)}"
        path = re.sub(r"^.*?/v1(?=/)", "", request.url.path)  # wherever the base URL mounts the API
        for method, pattern, route in self._routes():
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                response = route(request, *match.groups())
                response.headers.setdefault("X-Request-ID", request_id)
                return response
        return problem(404, "Not Found", f"No route {request.method} {path}.", request_id)

    def _routes(self) -> list[tuple[str, str, Callable[..., httpx.Response]]]:
        return [
            ("POST", "/auth/register", self._register),
            ("POST", "/auth/token", self._login),
            ("GET", "/products", self._products),
            ("GET", r"/products/([^/]+)", self._product),
            ("POST", "/orders", self._create_order),
            ("GET", "/orders", self._list_orders),
            ("GET", r"/orders/([^/]+)", self._get_order),
            ("POST", r"/orders/([^/]+)/cancel", self._cancel_order),
            ("GET", r"/orders/([^/]+)/payment", self._payment),
            ("GET", "/notifications", self._notifications),
            ("GET", "/healthz", lambda _: httpx.Response(200, json={"status": "ok"})),
        ]

    # --- auth ---------------------------------------------------------------------------------------------

    def _register(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["email"] in self.users:
            return problem(409, "Conflict", "This email address is already registered.")
        self.seed_user(body["email"], body["password"])
        user = self.users[body["email"]]
        return httpx.Response(
            201, json={"id": user["id"], "email": user["email"], "role": "customer", "created_at": NOW}
        )

    def _login(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        user = self.users.get(body["email"])
        if user is None or user["password"] != body["password"]:
            return problem(401, "Unauthorized", "Invalid email or password.")
        token = f"fake.{uuid4().hex}.sig"
        self.tokens[token] = user["email"]
        return httpx.Response(200, json={"access_token": token, "token_type": "Bearer", "expires_in": 900})

    def _caller(self, request: httpx.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self.tokens.get(token) if scheme == "Bearer" else None

    # --- products -----------------------------------------------------------------------------------------

    def _products(self, request: httpx.Request) -> httpx.Response:
        return self._page(request, CATALOG)

    def _product(self, _: httpx.Request, sku: str) -> httpx.Response:
        for product in CATALOG:
            if product["sku"] == sku:
                return httpx.Response(200, json=product)
        return problem(404, "Not Found", f"Unknown SKU {sku}.")

    def _page(self, request: httpx.Request, items: list[JSON]) -> httpx.Response:
        size = int(request.url.params.get("page_size", self.page_size))
        token = request.url.params.get("page_token")
        start = int(token.removeprefix("p")) if token else 0
        page: JSON = {"items": items[start : start + size]}
        if start + size < len(items):
            page["next_page_token"] = f"p{start + size}"
        return httpx.Response(200, json=page)

    # --- orders -------------------------------------------------------------------------------------------

    def _create_order(self, request: httpx.Request) -> httpx.Response:
        owner = self._caller(request)
        if owner is None:
            return problem(401, "Unauthorized", "No authorization token provided.")
        key = request.headers["Idempotency-Key"]
        if (owner, key) in self.idempotency:
            first_body, first_reply = self.idempotency[(owner, key)]
            if first_body != request.content:
                return problem(422, "Unprocessable Entity", "This Idempotency-Key was already used.")
            return httpx.Response(201, json=first_reply, headers={"Idempotent-Replayed": "true"})
        body = json.loads(request.content)
        lines = []
        for line in body["items"]:
            product = next((p for p in CATALOG if p["sku"] == line["sku"]), None)
            if product is None:
                return problem(404, "Not Found", f"Unknown SKU {line['sku']}.")
            if line["quantity"] > product["stock_available"]:
                return problem(
                    409, "Conflict", f"not enough stock of {line['sku']} for {line['quantity']} unit(s)"
                )
            total = product["unit_price"]["amount_minor"] * line["quantity"]
            price = product["unit_price"]
            lines.append({**line, "name": product["name"], "unit_price": price, "line_total": money(total)})
        order_id = str(uuid4())
        order: JSON = {
            "id": order_id,
            "status": "PENDING",
            "items": lines,
            "total": money(sum(line["line_total"]["amount_minor"] for line in lines)),
            "created_at": _now(),
            "updated_at": _now(),
        }
        self.orders[order_id] = {"owner": owner, "payment_token": body["payment_token"], "order": order}
        self._notify(order_id, owner, "order_received")
        self.idempotency[(owner, key)] = (request.content, order)
        return httpx.Response(201, json=order, headers={"Location": f"/v1/orders/{order_id}"})

    def _own_order(self, request: httpx.Request, order_id: str) -> JSON | None:
        stored = self.orders.get(order_id)
        return stored if stored and stored["owner"] == self._caller(request) else None

    def _get_order(self, request: httpx.Request, order_id: str) -> httpx.Response:
        if self._caller(request) is None:
            return problem(401, "Unauthorized", "No authorization token provided.")
        stored = self._own_order(request, order_id)
        if stored is None:
            return problem(404, "Not Found", "Order not found.")
        self._settle_payment(stored)
        return httpx.Response(200, json=stored["order"])

    def _settle_payment(self, stored: JSON) -> None:
        """The payment saga, collapsed: a pending order is settled the first time it is read again."""
        order = stored["order"]
        if order["status"] != "PENDING":
            return
        if stored["payment_token"] == "tok_declined":
            order.update(status="CANCELLED", cancellation_reason="payment_declined", updated_at=_now())
            self._notify(order["id"], stored["owner"], "order_cancelled")
        else:
            order.update(status="PAID", updated_at=_now())
            self._notify(order["id"], stored["owner"], "order_paid")

    def _cancel_order(self, request: httpx.Request, order_id: str) -> httpx.Response:
        stored = self._own_order(request, order_id)
        if stored is None:
            return problem(404, "Not Found", "Order not found.")
        order = stored["order"]
        if order["status"] == "CANCELLED":
            return problem(409, "Conflict", "The order is already cancelled.")
        order.update(status="CANCELLED", cancellation_reason="customer_request", updated_at=_now())
        self._notify(order_id, stored["owner"], "order_cancelled")
        return httpx.Response(200, json=order)

    def _list_orders(self, request: httpx.Request) -> httpx.Response:
        owner = self._caller(request)
        if owner is None:
            return problem(401, "Unauthorized", "No authorization token provided.")
        status = request.url.params.get("status")
        mine = [s["order"] for s in reversed(self.orders.values()) if s["owner"] == owner]
        return self._page(request, [o for o in mine if status in (None, o["status"])])

    def _payment(self, request: httpx.Request, order_id: str) -> httpx.Response:
        stored = self._own_order(request, order_id)
        if stored is None or stored["order"]["status"] == "PENDING":
            return problem(404, "Not Found", "No payment recorded for this order yet.")
        order = stored["order"]
        status = "SUCCEEDED" if order["status"] == "PAID" else "FAILED"
        payment = {
            "id": str(UUID(int=int(UUID(order_id)) ^ 1)),
            "order_id": order_id,
            "status": status,
            "amount": order["total"],
            "attempts": 1,
            "created_at": NOW,
            "updated_at": NOW,
        }
        return httpx.Response(200, json=payment)

    # --- notifications ------------------------------------------------------------------------------------

    def _notify(self, order_id: str, owner: str, template: str) -> None:
        self.notifications.insert(
            0,
            {
                "id": str(uuid4()),
                "order_id": order_id,
                "channel": "email",
                "template": template,
                "recipient": owner,
                "subject": template.replace("_", " ").capitalize(),
                "status": "SENT",
                "attempts": 1,
                "created_at": NOW,
                "sent_at": NOW,
            },
        )

    def _notifications(self, request: httpx.Request) -> httpx.Response:
        owner = self._caller(request)
        if owner is None:
            return problem(401, "Unauthorized", "No authorization token provided.")
        order_id = request.url.params.get("order_id")
        mine = [
            n for n in self.notifications if n["recipient"] == owner and order_id in (None, n["order_id"])
        ]
        return self._page(request, mine)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
