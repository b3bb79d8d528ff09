"""Typed settings from the environment, read once at start and immutable afterwards.

Each service subclasses ``ServiceSettings`` with its own ``env_prefix`` (``ORDERS_``, ``PAYMENTS_``, ...);
the settings every service shares (``AMQP_URL``, ``LOG_LEVEL``, ``VAR_DIR``) keep their unprefixed names.
``load_settings`` turns a bad value into ``ConfigError`` with one line per problem, naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class ConfigError(Exception):
    """The environment does not describe a valid configuration; the message says what to fix."""


class ServiceSettings(BaseSettings):
    """Settings every service has."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_file=None, populate_by_name=True)

    amqp_url: str = Field(default=DEFAULT_AMQP_URL, validation_alias="AMQP_URL", pattern=r"^amqps?://")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LOG_LEVEL"
    )
    var_dir: Path = Field(default=Path("var"), validation_alias="VAR_DIR")
    """Where embedded state lives (SQLite files) when no database URL is set."""


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def _is_secret(annotation: object) -> bool:
    """Whether a field holds a secret (``SecretStr``, possibly optional): its value is never printed."""
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def load_settings(settings_cls: type[SettingsT], **overrides: object) -> SettingsT:
    """The settings from the environment (``overrides`` win, for tests); raises ``ConfigError``."""
    try:
        return settings_cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        prefix = settings_cls.model_config.get("env_prefix", "")
        lines = []
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "?"
            info = settings_cls.model_fields.get(field)
            alias = info.validation_alias if info is not None else None
            name = alias if isinstance(alias, str) else f"{prefix}{field}".upper()
            secret = info is not None and _is_secret(info.annotation)
            shown = "***" if secret else repr(problem.get("input"))
            lines.append(f"{name}: {problem['msg']} (got {shown})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
