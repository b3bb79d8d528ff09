"""gRPC status codes of the services -> HTTP problems: the gateway's one mapping of backend errors.

| gRPC status          | HTTP | note                                                                     |
|----------------------|------|--------------------------------------------------------------------------|
| INVALID_ARGUMENT     | 400  | 422 for CreateOrder: the gateway checked the syntax, so what the service  |
|                      |      | refuses is semantic (the same SKU twice, mixed currencies)                |
| NOT_FOUND            | 404  | another user's resource answers exactly like an unknown one               |
| FAILED_PRECONDITION  | 409  | insufficient stock, order already cancelled                               |
| ALREADY_EXISTS       | 422  | CreateOrder: the Idempotency-Key was used with another request            |
| UNAVAILABLE          | 503  | with ``Retry-After``: the service or its database is down                 |
| RESOURCE_EXHAUSTED   | 503  | with ``Retry-After``: overloaded (a full pool, too many streams)          |
| ABORTED              | 503  | with ``Retry-After``: a concurrent transaction won; the same request will |
|                      |      | do (409 would say the client must change something, as for FAILED_PREC.) |
| CANCELLED            | 503  | with ``Retry-After``: the call was cut short (a stopping server); nothing |
|                      |      | is wrong with the request, and the Idempotency-Key makes a retry safe     |
| DEADLINE_EXCEEDED    | 504  | the outcome is unknown                                                    |
| anything else        | 502  | a backend failed (INTERNAL, UNKNOWN, ...): logged, no internals answered  |

No fault (a service or database that is down, slow or overloaded) is a 500 or a 502: those say a bug.

Messages of the 4xx codes come from the services, which write them for the caller; the gateway writes
its own for the 5xx ones (a connection error names internal addresses).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import grpc

from gateway.adapters.problems import ApiProblem

log = logging.getLogger(__name__)

HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 422,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 503,
    grpc.StatusCode.ABORTED: 503,
    grpc.StatusCode.CANCELLED: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
RPC_OVERRIDES: Mapping[tuple[str, grpc.StatusCode], int] = {
    ("CreateOrder", grpc.StatusCode.INVALID_ARGUMENT): 422,
}
BAD_GATEWAY = 502


def backend_problem(
    service: str, rpc: str, code: grpc.StatusCode, details: str, retry_after: int
) -> ApiProblem:
    """The answer to a failed call of ``rpc`` on ``service`` that ended with ``code``."""
    status = RPC_OVERRIDES.get((rpc, code)) or HTTP_STATUS.get(code, BAD_GATEWAY)
    if status == 503:
        log.warning("%s answered %s with %s: %s", service, rpc, code.name, details)
        return ApiProblem(
            503,
            f"The {service} service is unavailable; retry in {retry_after} s.",
            {"Retry-After": str(retry_after)},
        )
    if status == 504:
        log.warning("%s did not answer %s in time", service, rpc)
        return ApiProblem(
            504,
            f"The {service} service did not answer in time; the outcome is unknown. Retry"
            " (for POST /orders with the same Idempotency-Key).",
        )
    if status == BAD_GATEWAY:
        log.error("%s failed in %s with %s: %s", service, rpc, code.name, details)
        return ApiProblem(BAD_GATEWAY, f"The {service} service failed; quote the request id to support.")
    return ApiProblem(status, details or code.name)


def unreadable_answer(service: str, rpc: str, error: Exception) -> ApiProblem:
    """A reply the gateway cannot translate into the API's models (a contract mismatch): 502."""
    log.error("%s answered %s with what the API cannot represent: %r", service, rpc, error)
    return ApiProblem(BAD_GATEWAY, f"The {service} service sent an answer the gateway cannot read.")
