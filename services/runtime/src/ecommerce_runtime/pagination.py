"""Pages of a listing, and opaque cursor page tokens: what a list query needs to resume after the last item
it returned.

A token is URL-safe base64 of a small JSON object; it also records the filter it was issued for, so a
token replayed with another filter is refused instead of silently returning the wrong page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_TOKEN_LENGTH = 512


class InvalidPageRequest(ValueError):
    """A page size out of range or a page token this service did not issue (for this filter)."""


def page_size(requested: int) -> int:
    """The page size to use: 0 means the default; otherwise 1..MAX_PAGE_SIZE."""
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= requested <= MAX_PAGE_SIZE:
        raise InvalidPageRequest(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {requested}")
    return requested


def encode_token(position: dict[str, Any], scope: str) -> str:
    raw = json.dumps({"p": position, "s": scope}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_token(token: str, scope: str) -> dict[str, Any] | None:
    """The position in ``token`` (None for the empty token, i.e. the first page)."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidPageRequest("page_token is too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidPageRequest("page_token is not a token this service issued") from None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("p"), dict):
        raise InvalidPageRequest("page_token is not a token this service issued")
    if decoded.get("s") != scope:
        raise InvalidPageRequest("page_token was issued for a different filter")
    position: dict[str, Any] = decoded["p"]
    return position


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next (empty on the last page)."""

    items: list[T]
    next_page_token: str


def page_of(found: list[T], limit: int, scope: str, position: Callable[[T], dict[str, Any]]) -> Page[T]:
    """The page among ``found``, which was fetched with ``limit + 1`` rows: one more than fits says that
    a next page exists, and its token resumes after the last item shown (``position`` of it)."""
    if len(found) <= limit:
        return Page(found, "")
    items = found[:limit]
    return Page(items, encode_token(position(items[-1]), scope))


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a newest-first listing resumes: after this (created_at, id)."""

    created_at: datetime
    id: UUID

    def position(self) -> dict[str, Any]:
        return {"t": self.created_at.isoformat(), "i": str(self.id)}

    @classmethod
    def from_token(cls, token: str, scope: str) -> Cursor | None:
        """The cursor in ``token`` (None for the first page); ``InvalidPageRequest`` if it holds none."""
        position = decode_token(token, scope)
        if position is None:
            return None
        try:
            return cls(datetime.fromisoformat(position["t"]), UUID(position["i"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidPageRequest("page_token is not a token this service issued") from None
