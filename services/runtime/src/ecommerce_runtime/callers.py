"""Who a call is made for: the ``Caller`` the gateway verified, read once from each gRPC request.

Every service scopes reads and writes to it: a customer reaches only their own resources, an admin all;
another customer's resource must answer exactly like an unknown one (NOT_FOUND).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ecommerce.common.v1 import common_pb2
from ecommerce_runtime.grpc_errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: UUID
    is_admin: bool = False

    def can_see(self, owner_id: UUID) -> bool:
        """Whether the caller may read or change a resource owned by ``owner_id``."""
        return self.is_admin or owner_id == self.user_id


def uuid_field(name: str, value: str) -> UUID:
    """``value`` as a UUID, or ``InvalidArgument`` naming the field."""
    try:
        return UUID(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a UUID, got {value[:64]!r}") from None


def caller_of(caller: common_pb2.Caller) -> Caller:
    """The request's caller; ``InvalidArgument`` when the gateway sent no valid one."""
    if caller.role not in (common_pb2.ROLE_CUSTOMER, common_pb2.ROLE_ADMIN):
        raise InvalidArgument("caller.role must be ROLE_CUSTOMER or ROLE_ADMIN")
    return Caller(uuid_field("caller.user_id", caller.user_id), is_admin=caller.role == common_pb2.ROLE_ADMIN)
