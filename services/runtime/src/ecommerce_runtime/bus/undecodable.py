"""Messages whose AMQP properties cannot be decoded reach the consumer instead of killing the connection.

pamqp (under aiormq) decodes a content header's properties eagerly; a value it cannot represent (a
``timestamp`` beyond year 9999, a malformed field table) raises inside aiormq's frame reader, which closes
the whole connection. The broker then returns every unacked message of it with one more delivery counted,
so one bad message can push innocent ones over ``x-delivery-limit`` (and a shared connection stops
publishing too). ``install()`` makes such a header decode with only its size known and an
``x-undecodable-properties`` header saying why; ``envelope.decode_event`` then dead-letters the message as
poison like any other. Why a patch of a private function: decision 0010 (``docs/decisions/``).
"""

from __future__ import annotations

import logging
import struct
from typing import Final

import pamqp.frame
from pamqp import commands, exceptions, header

log = logging.getLogger(__name__)

UNDECODABLE_HEADER: Final = "x-undecodable-properties"
_strict = pamqp.frame._unmarshal_header_frame


def _tolerant_header_frame(frame_data: bytes) -> header.ContentHeader:
    try:
        return _strict(frame_data)
    except (exceptions.UnmarshalingException, ValueError, OverflowError, OSError) as error:
        # The weight and body size (in the first 12 bytes) are all it takes to read the body frames.
        _, weight, body_size = struct.unpack(">HHQ", frame_data[0:12])  # a truncated frame still fails
        reason = f"{type(error).__name__}: {error}"[:200]
        log.warning("a message's AMQP properties cannot be decoded (%s); it arrives without them", reason)
        properties = commands.Basic.Properties(headers={UNDECODABLE_HEADER: reason})
        return header.ContentHeader(weight=weight, body_size=body_size, properties=properties)


def install() -> None:
    """Replaces pamqp's content-header decoder with the tolerant one (idempotent)."""
    pamqp.frame._unmarshal_header_frame = _tolerant_header_frame
