"""Settings come from the environment once; a bad value stops the service with a message naming it."""

from __future__ import annotations

import pytest

from ecommerce_runtime.config import ConfigError, load_settings
from payments.__main__ import main
from payments.bootstrap import PaymentsSettings


def test_defaults_and_prefixed_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PAYMENTS_GRPC_BIND", "PAYMENTS_MAX_CHARGE_ATTEMPTS", "PAYMENTS_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    defaults = load_settings(PaymentsSettings)
    assert (defaults.grpc_bind, defaults.max_charge_attempts, defaults.database_url) == (
        "127.0.0.1:50052",
        4,
        None,
    )
    monkeypatch.setenv("PAYMENTS_MAX_CHARGE_ATTEMPTS", "6")
    monkeypatch.setenv("PAYMENTS_CHARGE_BACKOFF_INITIAL_MS", "100")
    monkeypatch.setenv("PAYMENTS_CHARGE_BACKOFF_MAX_MS", "800")
    policy = load_settings(PaymentsSettings).retry_policy
    assert (policy.max_attempts, policy.first_delay, policy.max_delay) == (6, 0.1, 0.8)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PAYMENTS_MAX_CHARGE_ATTEMPTS", "0", "PAYMENTS_MAX_CHARGE_ATTEMPTS: Input should be greater than"),
        (
            "PAYMENTS_PROVIDER_LATENCY_MS",
            "fast",
            "PAYMENTS_PROVIDER_LATENCY_MS: Input should be a valid integer",
        ),
        ("PAYMENTS_CHARGE_BACKOFF_MAX_MS", "10", "PAYMENTS_CHARGE_BACKOFF_MAX_MS: Value error, must be >="),
        ("AMQP_URL", "http://localhost", "AMQP_URL: String should match pattern"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load_settings(PaymentsSettings)

    assert main(["migrate"]) == 2
    assert message in capsys.readouterr().err
