"""Settings the API's limits bound take those limits from the spec, and their errors name them."""

from __future__ import annotations

import pytest
from gateway_fakes import settings
from pydantic import ValidationError

from ecommerce.rest.constraints import (
    HEADER_RETRY_AFTER_MAXIMUM,
    REGISTER_REQUEST_PASSWORD_MIN_LENGTH,
    TOKEN_EXPIRES_IN_MAXIMUM,
)

ADMIN = "root@example.com"


def test_the_admin_password_follows_the_rule_of_registration() -> None:
    shortest = "p" * REGISTER_REQUEST_PASSWORD_MIN_LENGTH
    assert settings(admin_email=ADMIN, admin_password=shortest).admin_password is not None
    with pytest.raises(ValidationError, match=f"at least {REGISTER_REQUEST_PASSWORD_MIN_LENGTH} characters"):
        settings(admin_email=ADMIN, admin_password=shortest[1:])


@pytest.mark.parametrize(
    ("name", "limit"),
    [("jwt_ttl_seconds", TOKEN_EXPIRES_IN_MAXIMUM), ("retry_after_seconds", HEADER_RETRY_AFTER_MAXIMUM)],
)
def test_a_value_the_api_could_not_send_is_refused(name: str, limit: int) -> None:
    assert getattr(settings(**{name: limit}), name) == limit
    with pytest.raises(ValidationError, match=f"less than or equal to {limit}"):
        settings(**{name: limit + 1})
