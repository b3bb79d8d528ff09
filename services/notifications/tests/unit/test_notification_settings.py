"""Settings: the defaults a developer gets, and a bad value stops the service with a clear message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ecommerce_runtime import entrypoint
from ecommerce_runtime.config import load_settings
from notifications.__main__ import main
from notifications.bootstrap import NotificationsSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("NOTIFICATIONS_"):
            monkeypatch.delenv(name)


def test_defaults_point_at_the_local_dev_stack() -> None:
    settings = load_settings(NotificationsSettings)
    smtp = settings.smtp()
    assert (smtp.host, smtp.port, smtp.tls, smtp.username, smtp.password) == (
        "127.0.0.1",
        1025,
        "none",
        None,
        None,
    )
    assert settings.grpc_bind == "127.0.0.1:50053"
    assert settings.database_url is None
    assert settings.max_send_attempts == 20
    delivery = settings.delivery()
    assert delivery.lease.total_seconds() > settings.smtp_timeout_seconds * settings.mailer_batch_size


def test_settings_come_from_the_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATIONS_SMTP_HOST", "mail.example")
    monkeypatch.setenv("NOTIFICATIONS_SMTP_PORT", "465")
    monkeypatch.setenv("NOTIFICATIONS_SMTP_TLS", "tls")
    monkeypatch.setenv("NOTIFICATIONS_SMTP_USERNAME", "shop")
    monkeypatch.setenv("NOTIFICATIONS_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("NOTIFICATIONS_SMTP_FROM", "Shop <shop@mail.example>")
    monkeypatch.setenv("NOTIFICATIONS_MAX_SEND_ATTEMPTS", "5")
    settings = load_settings(NotificationsSettings)
    smtp = settings.smtp()
    assert (smtp.host, smtp.port, smtp.tls, smtp.username, smtp.password) == (
        "mail.example",
        465,
        "tls",
        "shop",
        "s3cret",
    )
    assert smtp.sender_address == "shop@mail.example"
    assert "s3cret" not in repr(settings)
    assert settings.delivery().retry.max_attempts == 5


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "NOTIFICATIONS_SMTP_TLS",
            "ssl",
            "NOTIFICATIONS_SMTP_TLS: Input should be 'none', 'starttls' or 'tls'",
        ),
        (
            "NOTIFICATIONS_SMTP_PORT",
            "0",
            "NOTIFICATIONS_SMTP_PORT: Input should be greater than or equal to 1",
        ),
        (
            "NOTIFICATIONS_SMTP_FROM",
            "nobody",
            "NOTIFICATIONS_SMTP_FROM: Value error, 'nobody' is not one email",
        ),
        ("NOTIFICATIONS_MAX_SEND_ATTEMPTS", "0", "NOTIFICATIONS_MAX_SEND_ATTEMPTS: Input should be greater"),
        ("NOTIFICATIONS_RETRY_MAX_DELAY_SECONDS", "1", "must be at least NOTIFICATIONS_RETRY_FIRST_DELAY"),
        ("NOTIFICATIONS_SMTP_USERNAME", "shop", "set both NOTIFICATIONS_SMTP_USERNAME and"),
    ],
)
def test_a_bad_value_stops_with_exit_2_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["serve"]) == 2
    assert message in capsys.readouterr().err


def test_a_password_without_a_user_is_refused_without_echoing_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOTIFICATIONS_SMTP_PASSWORD", "hunter2-secret")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "set both NOTIFICATIONS_SMTP_USERNAME and NOTIFICATIONS_SMTP_PASSWORD" in err
    assert "hunter2-secret" not in err


def test_broken_templates_stop_the_service_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("NOTIFICATIONS_TEMPLATES_DIR", str(tmp_path))  # empty: every template is missing
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setattr(entrypoint, "configure_logging", lambda service, level: None)
    assert main(["migrate"]) == 2
    assert "cannot read template" in capsys.readouterr().err
