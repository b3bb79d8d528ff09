"""Errors -> gRPC status at the edge of a service: a database that cannot be used now is UNAVAILABLE (a
warning, no traceback), a transaction a concurrent one aborted is ABORTED, a bug stays INTERNAL."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest
from sqlalchemy import exc

from ecommerce_runtime.db import database_unreachable
from ecommerce_runtime.grpc_errors import InvalidArgument, StatusMapper


class DriverError(Exception):
    """What a driver raises, with the SQLSTATE the way asyncpg's adapted errors carry it, or SQLite's
    (extended) result code the way ``sqlite3`` errors carry it."""

    def __init__(self, message: str, sqlstate: str | None = None, sqlite_errorcode: int = 0) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.sqlite_errorcode = sqlite_errorcode


def dbapi(kind: type[exc.DBAPIError], sqlstate: str | None = None, *, invalidated: bool = False) -> Exception:
    return kind("SELECT 1", None, DriverError("driver says no", sqlstate), connection_invalidated=invalidated)


UNREACHABLE: dict[str, BaseException] = {
    "connection refused": ConnectionRefusedError(111, "Connect call failed"),
    "connect timed out": TimeoutError(),
    "SQLite busy": exc.OperationalError(
        "INSERT", None, DriverError("database is locked", sqlite_errorcode=5)
    ),
    "SQLite I/O error": exc.OperationalError("INSERT", None, DriverError("disk I/O", sqlite_errorcode=266)),
    "asyncpg: connection is closed": dbapi(exc.InterfaceError, invalidated=True),
    # asyncpg's "connection was closed in the middle of operation": a generic DBAPIError
    "connection lost mid-statement": dbapi(exc.DBAPIError, "08003", invalidated=True),
    "disconnect without a SQLSTATE": dbapi(exc.DBAPIError, invalidated=True),
    "too many connections": dbapi(exc.DBAPIError, "53300"),
    "disk full": dbapi(exc.DBAPIError, "53100"),
    "server shutting down": dbapi(exc.DBAPIError, "57P01"),
    "server starting up": dbapi(exc.DBAPIError, "57P03"),
    "pool exhausted": exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
}
BUGS: dict[str, BaseException] = {
    "unique violation": dbapi(exc.IntegrityError, "23505"),
    "syntax error": dbapi(exc.ProgrammingError, "42601"),
    "undefined table": dbapi(exc.ProgrammingError, "42P01"),
    "bad data": dbapi(exc.DataError, "22P02"),
    "SQLite: no such table": exc.OperationalError("SELECT", None, DriverError("no such table", None, 1)),
    "statement timeout": dbapi(exc.DBAPIError, "57014"),
    "generic driver error": dbapi(exc.DBAPIError, "XX000"),
    "not a database error": ValueError("bug"),
}


@pytest.mark.parametrize("error", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_what_says_the_database_cannot_be_used_now(error: BaseException) -> None:
    assert database_unreachable(error)


@pytest.mark.parametrize("error", BUGS.values(), ids=BUGS.keys())
def test_what_says_the_statement_or_the_code_is_wrong(error: BaseException) -> None:
    assert not database_unreachable(error)


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code, self.details = code, details


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


class NotYours(Exception):
    pass


async def status_of(error: Exception) -> Aborted:
    class Servicer:
        @StatusMapper({NotYours: grpc.StatusCode.NOT_FOUND})
        async def Get(self, request: Any, context: Any) -> None:
            raise error

    with pytest.raises(Aborted) as aborted:
        await Servicer().Get(None, FakeContext())
    return aborted.value


@pytest.mark.parametrize("error", UNREACHABLE.values(), ids=UNREACHABLE.keys())
async def test_an_unreachable_database_is_unavailable_and_a_warning(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    aborted = await status_of(error)
    assert aborted.code is grpc.StatusCode.UNAVAILABLE
    assert aborted.details == "the service's database is unavailable"  # no driver text, no address
    (record,) = [r for r in caplog.records if r.name == "ecommerce_runtime.grpc_errors"]
    assert (record.levelno, record.exc_info) == (logging.WARNING, None)


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
async def test_a_transaction_a_concurrent_one_aborted_is_aborted(sqlstate: str) -> None:
    aborted = await status_of(dbapi(exc.DBAPIError, sqlstate))
    assert aborted.code is grpc.StatusCode.ABORTED


@pytest.mark.parametrize("error", BUGS.values(), ids=BUGS.keys())
async def test_a_bug_is_internal_with_its_traceback_logged(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    aborted = await status_of(error)
    assert (aborted.code, aborted.details) == (grpc.StatusCode.INTERNAL, "internal error")
    (record,) = [r for r in caplog.records if r.name == "ecommerce_runtime.grpc_errors"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


async def test_mapped_errors_win_and_keep_their_message() -> None:
    assert (await status_of(NotYours("order 1 not found"))).code is grpc.StatusCode.NOT_FOUND
    aborted = await status_of(InvalidArgument("page_size: must be at most 100"))
    assert (aborted.code, aborted.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size: must be at most 100",
    )
