"""The gRPC face of the Payment Service: proto messages in, use-case calls, proto messages out.

Wire formats (UUIDs, the caller's role) are checked here. Every error is mapped to a status code once, in
``STATUS``; another customer's payment answers NOT_FOUND exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from ecommerce.common.v1 import common_pb2
from ecommerce.payments.v1 import payments_pb2, payments_pb2_grpc
from ecommerce_runtime.callers import caller_of, uuid_field
from ecommerce_runtime.grpc_errors import StatusMapper
from payments.domain import Payment, PaymentNotFound, PaymentStatus
from payments.handlers import PaymentHandlers

STATUS = StatusMapper({PaymentNotFound: grpc.StatusCode.NOT_FOUND})
STATUS_TO_PB = {
    PaymentStatus.PENDING: payments_pb2.PAYMENT_STATUS_PENDING,
    PaymentStatus.SUCCEEDED: payments_pb2.PAYMENT_STATUS_SUCCEEDED,
    PaymentStatus.FAILED: payments_pb2.PAYMENT_STATUS_FAILED,
    PaymentStatus.REFUNDED: payments_pb2.PAYMENT_STATUS_REFUNDED,
    PaymentStatus.CANCELLED: payments_pb2.PAYMENT_STATUS_CANCELLED,
}

Context: TypeAlias = grpc.aio.ServicerContext  # the generated stubs parameterize it per method


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def payment_pb(payment: Payment) -> payments_pb2.Payment:
    return payments_pb2.Payment(
        id=str(payment.id),
        order_id=str(payment.order_id),
        user_id=str(payment.user_id),
        status=STATUS_TO_PB[payment.status],
        amount=common_pb2.Money(amount_minor=payment.amount.amount_minor, currency=payment.amount.currency),
        attempts=payment.attempts,
        provider_reference=payment.provider_reference or "",
        failure_reason=payment.failure_reason.value if payment.failure_reason else "",
        create_time=_timestamp(payment.created_at),
        update_time=_timestamp(payment.updated_at),
    )


class PaymentServicer(payments_pb2_grpc.PaymentServiceServicer):
    def __init__(self, handlers: PaymentHandlers) -> None:
        self._handlers = handlers

    @STATUS
    async def GetPayment(
        self,
        request: payments_pb2.GetPaymentRequest,
        context: Context[payments_pb2.GetPaymentRequest, Awaitable[payments_pb2.GetPaymentResponse]],
    ) -> payments_pb2.GetPaymentResponse:
        caller = caller_of(request.caller)
        payment = await self._handlers.get_payment(caller, uuid_field("order_id", request.order_id))
        return payments_pb2.GetPaymentResponse(payment=payment_pb(payment))
