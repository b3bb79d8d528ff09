"""``.env.example`` and the code agree: every setting of every service is documented there, nothing there
is unknown to the code, and its values are valid (copying it to ``.env`` gives a working configuration)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ecommerce_runtime.config import ServiceSettings, load_settings
from gateway.bootstrap import GatewaySettings
from notifications.bootstrap import NotificationsSettings
from orders.bootstrap import OrdersSettings
from payments.bootstrap import PaymentsSettings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
SETTINGS: list[type[ServiceSettings]] = [
    OrdersSettings,
    PaymentsSettings,
    NotificationsSettings,
    GatewaySettings,
]
# Read by other programs than the services: tests, the SDK, uv.
NOT_SERVICE_SETTINGS = {
    "AMQP_TEST_URL",
    "PG_TEST_URL",
    "ECOMMERCE_BASE_URL",
    "ECOMMERCE_API_TOKEN",
    "UV_PYTHON",
}
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def _documented() -> dict[str, tuple[str, bool]]:
    """name -> (value, commented out)."""
    found = {}
    for line in EXAMPLE.read_text().splitlines():
        if match := ASSIGNMENT.match(line.strip()):
            found[match.group(1)] = (match.group(2), line.lstrip().startswith("#"))
    return found


def _env_names(settings: type[ServiceSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for field, info in settings.model_fields.items():
        alias = info.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{field}".upper())
    return names


def test_every_setting_in_the_code_is_documented() -> None:
    documented = set(_documented())
    for settings in SETTINGS:
        missing = _env_names(settings) - documented
        assert not missing, f"{settings.__name__}: not in .env.example: {sorted(missing)}"


def test_nothing_documented_is_unknown_to_the_code() -> None:
    known = set().union(*(_env_names(s) for s in SETTINGS)) | NOT_SERVICE_SETTINGS
    assert set(_documented()) - known == set()


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.__name__)
def test_the_example_values_are_valid(
    settings: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _env_names(settings):
        monkeypatch.delenv(name, raising=False)
    for name, (value, commented) in _documented().items():
        if not commented:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "x" * 48)  # required and deliberately without an example value
    loaded = load_settings(settings)
    assert loaded.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
