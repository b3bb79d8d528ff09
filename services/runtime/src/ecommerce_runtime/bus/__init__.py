"""The RabbitMQ bus of every service: topology, a publisher with confirms, a consumer with retries and a DLQ.

- ``connect``: a robust connection (reconnects and restores channels, queues and consumers by itself).
- ``declare_topology``: the exchange, the dead-letter exchange, a service's quorum queue and its DLQ.
- ``Publisher``: publishes an ``OutgoingMessage`` and returns only once the broker confirmed it.
- ``Consumer``: hands each ``IncomingEvent`` to a handler; acks, retries or dead-letters by the outcome.

The envelope lives in ``ecommerce_runtime.messages``; the event shapes come from the generated channel table.
"""

from ecommerce_runtime.bus.connection import BrokerUnavailableError, connect, mask_url, run_connected
from ecommerce_runtime.bus.consumer import (
    Consumer,
    PermanentError,
    Subscriber,
    TransientError,
    default_retry_backoff,
)
from ecommerce_runtime.bus.dead_letter import dead_letter_reason
from ecommerce_runtime.bus.envelope import PoisonMessageError, decode_event
from ecommerce_runtime.bus.publisher import Publisher, PublishError, amqp_message
from ecommerce_runtime.bus.topology import (
    DEAD_LETTER_EXCHANGE,
    DEFAULT_DELIVERY_LIMIT,
    declare_topology,
    dlq_name,
    queue_arguments,
)

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "DEFAULT_DELIVERY_LIMIT",
    "BrokerUnavailableError",
    "Consumer",
    "PermanentError",
    "PoisonMessageError",
    "PublishError",
    "Publisher",
    "Subscriber",
    "TransientError",
    "amqp_message",
    "connect",
    "dead_letter_reason",
    "declare_topology",
    "decode_event",
    "default_retry_backoff",
    "dlq_name",
    "mask_url",
    "queue_arguments",
    "run_connected",
]
