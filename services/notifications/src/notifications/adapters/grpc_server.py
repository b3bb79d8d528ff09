"""The gRPC face of the Notification Service: proto messages in, use-case calls, proto messages out.

Wire formats (UUIDs, enums) are checked here; every error is mapped to a status code once, in ``STATUS``
(the runtime's ``StatusMapper`` already maps malformed fields and page requests to INVALID_ARGUMENT).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from ecommerce.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from ecommerce_runtime.callers import caller_of, uuid_field
from ecommerce_runtime.grpc_errors import StatusMapper
from notifications.domain import Channel, DeliveryStatus, Notification, TemplateKind
from notifications.handlers import NotificationHandlers

STATUS = StatusMapper({})
CHANNEL_TO_PB = {Channel.EMAIL: notifications_pb2.CHANNEL_EMAIL}
TEMPLATE_TO_PB = {
    TemplateKind.ORDER_RECEIVED: notifications_pb2.TEMPLATE_ORDER_RECEIVED,
    TemplateKind.ORDER_PAID: notifications_pb2.TEMPLATE_ORDER_PAID,
    TemplateKind.ORDER_CANCELLED: notifications_pb2.TEMPLATE_ORDER_CANCELLED,
    TemplateKind.PAYMENT_FAILED: notifications_pb2.TEMPLATE_PAYMENT_FAILED,
    TemplateKind.PAYMENT_REFUNDED: notifications_pb2.TEMPLATE_PAYMENT_REFUNDED,
}
STATUS_TO_PB = {
    DeliveryStatus.PENDING: notifications_pb2.DELIVERY_STATUS_PENDING,
    DeliveryStatus.SENT: notifications_pb2.DELIVERY_STATUS_SENT,
    DeliveryStatus.FAILED: notifications_pb2.DELIVERY_STATUS_FAILED,
}

Context: TypeAlias = grpc.aio.ServicerContext  # the generated stubs parameterize it per method


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def notification_pb(notification: Notification) -> notifications_pb2.Notification:
    return notifications_pb2.Notification(
        id=str(notification.id),
        user_id=str(notification.user_id),
        order_id=str(notification.order_id),
        channel=CHANNEL_TO_PB[notification.channel],
        template=TEMPLATE_TO_PB[notification.template],
        recipient=notification.recipient,
        subject=notification.subject,
        status=STATUS_TO_PB[notification.status],
        attempts=notification.attempts,
        create_time=_timestamp(notification.created_at),
        sent_time=_timestamp(notification.sent_at) if notification.sent_at else None,
    )


class NotificationServicer(notifications_pb2_grpc.NotificationServiceServicer):
    def __init__(self, handlers: NotificationHandlers) -> None:
        self._handlers = handlers

    @STATUS
    async def ListNotifications(
        self,
        request: notifications_pb2.ListNotificationsRequest,
        context: Context[
            notifications_pb2.ListNotificationsRequest, Awaitable[notifications_pb2.ListNotificationsResponse]
        ],
    ) -> notifications_pb2.ListNotificationsResponse:
        caller = caller_of(request.caller)
        order_id = uuid_field("order_id", request.order_id) if request.order_id else None
        page = await self._handlers.list_notifications(
            caller, order_id=order_id, size=request.page_size, token=request.page_token
        )
        return notifications_pb2.ListNotificationsResponse(
            notifications=[notification_pb(n) for n in page.items], next_page_token=page.next_page_token
        )
