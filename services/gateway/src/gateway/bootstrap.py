"""Composition root of the gateway: reads the settings once and wires the adapters into the use cases."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import argon2
from pydantic import EmailStr, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.rest.constraints import (
    HEADER_RETRY_AFTER_MAXIMUM,
    HEADER_RETRY_AFTER_MINIMUM,
    REGISTER_REQUEST_PASSWORD_MIN_LENGTH,
    TOKEN_EXPIRES_IN_MAXIMUM,
)
from ecommerce_runtime.clock import Clock, utc_now
from ecommerce_runtime.config import ServiceSettings
from ecommerce_runtime.db import create_engine, database_url
from ecommerce_runtime.migrations import upgrade_to_head
from gateway.adapters.backends import Channels, GrpcNotifications, GrpcOrders, GrpcPayments, GrpcReadiness
from gateway.adapters.grpc_calls import CallPolicy
from gateway.adapters.http_app import create_app, lifespan_of, load_spec
from gateway.adapters.http_server import serve_http
from gateway.adapters.jwt_tokens import MIN_SECRET_BYTES, JwtTokens
from gateway.adapters.passwords import Argon2Hasher
from gateway.adapters.problems import ApiProblem
from gateway.adapters.rest_operations import RestOperations
from gateway.adapters.users import SqlUsers
from gateway.handlers import Accounts
from gateway.ports import Backends, PasswordHasher, Users

SERVICE = "gateway"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADDRESS = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$"
log = logging.getLogger(__name__)


class GatewaySettings(ServiceSettings):
    """The gateway's settings: ``GATEWAY_*`` and the shared ``LOG_LEVEL``, ``VAR_DIR``."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="ignore")

    http_bind: str = Field(default="127.0.0.1:8000", pattern=ADDRESS)
    database_url: str | None = None
    """SQLAlchemy URL of the user store; unset means the SQLite file ``$VAR_DIR/gateway.db``."""
    database_pool_size: int = Field(default=5, ge=1, le=100)
    """Connections each gateway process keeps open to the user store."""
    database_max_overflow: int = Field(default=10, ge=0, le=100)
    """Connections opened beyond the pool at peaks: a process holds at most pool size + overflow."""
    jwt_secret: SecretStr
    """HS256 signing key, at least 32 bytes. Required: there is no default."""
    jwt_issuer: str = Field(default="ecommerce-gateway", min_length=1, max_length=200)
    jwt_audience: str = Field(default="ecommerce-api", min_length=1, max_length=200)
    jwt_ttl_seconds: int = Field(default=900, ge=60, le=TOKEN_EXPIRES_IN_MAXIMUM)
    jwt_leeway_seconds: int = Field(default=5, ge=0, le=300)
    admin_email: EmailStr | None = None
    """Validated like the API validates emails, so that the admin can log in."""
    admin_password: SecretStr | None = Field(default=None, validate_default=True)
    orders_addr: str = Field(default="127.0.0.1:50051", pattern=ADDRESS)
    payments_addr: str = Field(default="127.0.0.1:50052", pattern=ADDRESS)
    notifications_addr: str = Field(default="127.0.0.1:50053", pattern=ADDRESS)
    grpc_deadline_seconds: float = Field(default=5.0, gt=0, le=120)
    grpc_read_attempts: int = Field(default=3, ge=1, le=10)
    retry_after_seconds: int = Field(default=2, ge=HEADER_RETRY_AFTER_MINIMUM, le=HEADER_RETRY_AFTER_MAXIMUM)
    max_body_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    account_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    """How long an authenticated account is trusted without reading it again (0: every request reads it);
    a role change or a deleted account takes effect within this time."""
    validate_responses: bool = False
    """Check every response against the spec (the tests and ``make run`` do; it costs CPU per request)."""
    shutdown_grace_seconds: int = Field(default=10, ge=0, le=300)

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes")
        return secret

    @field_validator("admin_password")
    @classmethod
    def _admin_password_fits(cls, password: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # The API's rule for every password (RegisterRequest.password), so the admin's too.
        if password is not None and len(password.get_secret_value()) < REGISTER_REQUEST_PASSWORD_MIN_LENGTH:
            raise ValueError(f"must be at least {REGISTER_REQUEST_PASSWORD_MIN_LENGTH} characters")
        if "admin_email" in info.data and (info.data["admin_email"] is None) != (password is None):
            raise ValueError("set both GATEWAY_ADMIN_EMAIL and GATEWAY_ADMIN_PASSWORD, or neither")
        return password

    @property
    def call_policy(self) -> CallPolicy:
        return CallPolicy(self.grpc_deadline_seconds, self.grpc_read_attempts, self.retry_after_seconds)


@dataclass
class Gateway:
    """The running gateway: the ASGI ``app``, its user store and, once started, its gRPC channels."""

    settings: GatewaySettings
    accounts: Accounts
    engine: AsyncEngine | None
    app: Any = None
    _backends: Backends | None = None
    _channels: Channels | None = field(default=None, repr=False)

    def backends(self) -> Backends:
        if self._backends is None:
            raise ApiProblem(503, "The gateway is starting.", {"Retry-After": "1"})
        return self._backends

    async def prepare_database(self) -> None:
        if self.engine is not None:
            await upgrade_to_head(self.engine, MIGRATIONS)

    async def start(self) -> None:
        """Database migrated, the configured admin present, the channels to the services open."""
        await self.prepare_database()
        settings = self.settings
        if settings.admin_email is not None and settings.admin_password is not None:
            await self.accounts.ensure_admin(settings.admin_email, settings.admin_password.get_secret_value())
        if self._backends is None:
            self._channels = Channels.open(
                settings.orders_addr, settings.payments_addr, settings.notifications_addr
            )
            policy = settings.call_policy
            self._backends = Backends(
                orders=GrpcOrders(self._channels.orders, policy),
                payments=GrpcPayments(self._channels.payments, policy),
                notifications=GrpcNotifications(self._channels.notifications, policy),
                readiness=GrpcReadiness(self._channels, settings.grpc_deadline_seconds),
            )
        log.info("gateway ready", extra={"orders": settings.orders_addr})

    async def run(self, stop: asyncio.Event) -> None:
        """Serves HTTP on ``http_bind`` until ``stop`` is set (the app's lifespan calls ``start`` before the
        first request and ``stop`` after the last)."""
        await serve_http(
            self.app, self.settings.http_bind, stop, grace_seconds=self.settings.shutdown_grace_seconds
        )

    async def stop(self) -> None:
        """After the last request: channels closed, database connections released."""
        if self._channels is not None:
            await self._channels.close(self.settings.shutdown_grace_seconds)
            self._channels = None
            self._backends = None
        if self.engine is not None:
            await self.engine.dispose()


def bootstrap(
    settings: GatewaySettings,
    *,
    users: Users | None = None,
    password_hasher: PasswordHasher | None = None,
    backends: Backends | None = None,
    clock: Clock = utc_now,
) -> Gateway:
    """The gateway for ``settings``; tests pass fakes (or cheaper hashing) for what they do not exercise."""
    engine = None
    if users is None:
        engine = create_engine(
            database_url(settings.database_url, SERVICE, settings.var_dir),
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        )
        users = SqlUsers(engine, retry_after_seconds=settings.retry_after_seconds)
    tokens = JwtTokens(
        settings.jwt_secret.get_secret_value().encode(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_ttl_seconds,
        leeway_seconds=settings.jwt_leeway_seconds,
        clock=clock,
    )
    accounts = Accounts(
        users,
        password_hasher or Argon2Hasher(argon2.PasswordHasher()),
        tokens,
        clock,
        account_cache_seconds=settings.account_cache_seconds,
    )
    gateway = Gateway(settings, accounts, engine, _backends=backends)
    operations = RestOperations(accounts, gateway.backends, settings.retry_after_seconds)
    gateway.app = create_app(
        load_spec(),
        operations,
        accounts.authenticate,
        max_body_bytes=settings.max_body_bytes,
        validate_responses=settings.validate_responses,
        lifespan=lifespan_of(gateway.start, gateway.stop),
    )
    return gateway
