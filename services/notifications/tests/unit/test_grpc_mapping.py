"""The gRPC adapter's translation: every domain value has its protobuf enum, and an unsent notification
has no sent time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from ecommerce.common.v1 import common_pb2
from ecommerce.notifications.v1 import notifications_pb2
from ecommerce_runtime.callers import caller_of
from ecommerce_runtime.grpc_errors import InvalidArgument
from notifications.adapters.grpc_server import STATUS_TO_PB, TEMPLATE_TO_PB, notification_pb
from notifications.domain import DeliveryStatus, Notice, Notification, RenderedMessage, TemplateKind

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def test_every_template_and_status_has_a_protobuf_value() -> None:
    assert set(TEMPLATE_TO_PB) == set(TemplateKind)
    assert set(STATUS_TO_PB) == set(DeliveryStatus)
    assert 0 not in TEMPLATE_TO_PB.values()
    assert 0 not in STATUS_TO_PB.values()


def test_a_pending_notification_has_no_sent_time_and_a_sent_one_has() -> None:
    notice = Notice(TemplateKind.PAYMENT_FAILED, uuid4(), uuid4(), "ada@example.com", {})
    notification = Notification.compose(
        notification_id=uuid4(),
        event_id=uuid4(),
        notice=notice,
        message=RenderedMessage("s", "t", "h"),
        now=NOW,
    )
    pending = notification_pb(notification)
    assert (pending.status, pending.template, pending.attempts) == (
        notifications_pb2.DELIVERY_STATUS_PENDING,
        notifications_pb2.TEMPLATE_PAYMENT_FAILED,
        0,
    )
    assert not pending.HasField("sent_time")
    assert pending.create_time.ToDatetime(tzinfo=UTC) == NOW

    notification.claim(NOW, timedelta(minutes=1))
    notification.delivered(NOW + timedelta(seconds=3))
    sent = notification_pb(notification)
    assert sent.status == notifications_pb2.DELIVERY_STATUS_SENT
    assert sent.sent_time.ToDatetime(tzinfo=UTC) == NOW + timedelta(seconds=3)


@pytest.mark.parametrize(
    ("caller", "message"),
    [
        (common_pb2.Caller(user_id="nope", role=common_pb2.ROLE_CUSTOMER), "caller.user_id must be a UUID"),
        (common_pb2.Caller(user_id=str(uuid4())), "caller.role must be ROLE_CUSTOMER or ROLE_ADMIN"),
    ],
)
def test_a_malformed_caller_is_an_invalid_argument(caller: common_pb2.Caller, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        caller_of(caller)
