"""``run_live_scenario`` (called by the end-to-end tests against the running stack) works against the fake."""

from __future__ import annotations

import httpx
import pytest
from sdk_fakes import BASE_URL, FakeAPI, FakeClock
from sdk_live_scenario import run_live_scenario


def test_the_live_scenario_passes_against_the_fake_api() -> None:
    api = FakeAPI(page_size=2)  # the catalog spans several pages

    with httpx.Client(transport=api.transport) as http:
        seen = run_live_scenario(BASE_URL, http_client=http, clock=FakeClock())

    assert seen.paid.status == "PAID"
    assert len(seen.products) == 5
    assert {n.template for n in seen.notifications} == {"order_received", "order_paid"}
    assert [r.method + " " + r.url.path for r in api.requests][:3] == [
        "GET /v1/healthz",
        "POST /v1/auth/register",
        "POST /v1/auth/token",
    ]


def test_the_live_scenario_fails_when_the_order_is_not_paid() -> None:
    api = FakeAPI()

    def decline_everything(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/orders":
            body = request.content.replace(b"tok_success", b"tok_declined")
            request = httpx.Request("POST", request.url, headers=request.headers, content=body)
        return api.handle(request)

    with (
        httpx.Client(transport=httpx.MockTransport(decline_everything)) as http,
        pytest.raises(AssertionError, match="ended CANCELLED"),
    ):
        run_live_scenario(BASE_URL, http_client=http, clock=FakeClock())
