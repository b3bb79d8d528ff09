"""Schemathesis against the gateway in-process: every operation of ``specs/openapi.yaml``, all checks,
positive and negative data, with a real token, a fixed seed and a bounded number of examples.

The gateway's ASGI app is loaded with ``schemathesis.openapi.from_asgi`` from ``/v1/openapi.json`` (so the
spec it serves is the one under test) and runs in Schemathesis' own event loop, started through its ASGI
lifespan exactly as uvicorn starts it. The services behind it (the real Order Service and the fake Payment
and Notification Services) run in a background event loop of their own.

Where a check's expected statuses are widened, the reason is written next to it; no check is disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter, defaultdict
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import pytest
import schemathesis
from gateway_backends import Backends, orders_sqlite_url, running_backends
from gateway_fakes import cheap_hasher
from gateway_fakes import settings as gateway_settings
from gateway_http import PASSWORD
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi as schemathesis_asgi

from ecommerce_runtime.testing.rabbitmq import temporary_vhost
from gateway.bootstrap import bootstrap

T = TypeVar("T")
SEED = 20261129
MAX_EXAMPLES = 25
EXERCISED: defaultdict[str, Counter[str]] = defaultdict(Counter)
STATUSES: defaultdict[str, Counter[int]] = defaultdict(Counter)
DEFAULT_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # Schemathesis' own default

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        # No state carried between runs (a replayed crash would make runs differ) or left in the work tree.
        "cache": {"enabled": False},
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "operations": [
            {
                # A page token that matches the spec's pattern but was not issued by the service is refused
                # with 400 by design (the spec: "a malformed or foreign token is a 400").
                "include-operation-id": ["orders.list", "products.list", "notifications.list"],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*DEFAULT_ACCEPTED, "400"]}},
            },
            {
                # The spec's `format: email` admits addresses that cannot receive mail, which the generated
                # models (pydantic's EmailStr, email-validator) refuse with 400: special-use domains such as
                # `.test` or `.local`. Hypothesis generates them as valid emails.
                "include-operation-id": ["auth.register", "auth.login"],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*DEFAULT_ACCEPTED, "400"]}},
            },
            {
                # Schema-valid orders can still be refused as the spec documents with 422: the same SKU on
                # two lines (semantically invalid), or an Idempotency-Key reused with another body.
                "include-operation-id": "orders.create",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*DEFAULT_ACCEPTED, "422"]}},
            },
        ],
    }
)


class BackgroundLoop:
    """An event loop in a thread of its own, for the services the gateway calls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="backends", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    directory = tmp_path_factory.mktemp("schemathesis")
    loop = BackgroundLoop()
    stack = contextlib.AsyncExitStack()

    async def start() -> Backends:
        vhost = await stack.enter_async_context(temporary_vhost())
        return await stack.enter_async_context(running_backends(orders_sqlite_url(directory), vhost))

    try:
        yield loop.run(start())
    finally:
        loop.run(stack.aclose())
        loop.close()


@pytest.fixture(scope="module")
def api(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("gateway")
    gateway = bootstrap(
        gateway_settings(
            database_url=f"sqlite+aiosqlite:///{Path(directory) / 'gateway.db'}",
            orders_addr=backends.orders_addr,
            payments_addr=backends.payments_addr,
            notifications_addr=backends.notifications_addr,
        ),
        password_hasher=cheap_hasher(),
    )
    try:
        yield schemathesis.openapi.from_asgi("/v1/openapi.json", gateway.app, config=CONFIG)
    finally:
        schemathesis_asgi.shutdown_lifespans()  # stops the gateway (its lifespan) before the services


@pytest.fixture(scope="module")
def auth(api: Any) -> dict[str, str]:
    """A real customer's bearer token, obtained through the API itself."""
    credentials = {"email": f"fuzz-{uuid4().hex[:8]}@example.com", "password": PASSWORD}
    registered = api["/auth/register"]["POST"].Case(body=credentials).call()
    assert registered.status_code == 201, registered.text
    token = api["/auth/token"]["POST"].Case(body=credentials).call()
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


schema = schemathesis.pytest.from_fixture("api")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32.5's lazy schemas read ``Node._nodeid``, which pytest 9 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_the_spec(case: schemathesis.Case[Any], auth: dict[str, str]) -> None:
    response = case.call_and_validate(headers=auth)
    mode = case.meta.generation.mode.value if case.meta is not None else "explicit"
    EXERCISED[case.operation.label][mode] += 1
    STATUSES[case.operation.label][response.status_code] += 1


def test_linked_operations_hold_together(api: Any, auth: dict[str, str]) -> None:
    """Stateful: sequences that follow the spec's links (create an order, then get, cancel, pay for it),
    with the checks only sequences can make (a resource created is available; one deleted stays so)."""

    steps: Counter[tuple[str, int]] = Counter()

    class Scenario(api.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"headers": auth}

        def after_call(self, response: Any, case: schemathesis.Case[Any]) -> None:
            super().after_call(response, case)
            steps[(case.operation.label, response.status_code)] += 1

    Scenario.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    print(f"\nStateful steps (operation, status): {dict(sorted(steps.items()))}")
    # Reached only by following a link from a created order: the sequences really ran.
    assert steps[("GET /orders/{order_id}", 200)] + steps[("POST /orders/{order_id}/cancel", 200)] >= 1


def test_every_operation_was_exercised_with_valid_and_invalid_data() -> None:
    """Guards the run above against passing vacuously (runs after it: pytest keeps the file's order)."""
    summary = {label: dict(modes) for label, modes in sorted(EXERCISED.items())}
    print(f"\nSchemathesis cases per operation: {summary}")
    print(f"Statuses per operation: { {label: dict(codes) for label, codes in sorted(STATUSES.items())} }")
    assert len(EXERCISED) == 12, summary
    for label, modes in EXERCISED.items():
        assert modes["positive"] >= 1, label
        assert sum(modes.values()) >= 10, label
    assert sum(modes["negative"] for modes in EXERCISED.values()) >= 12
