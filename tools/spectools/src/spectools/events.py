"""Event contracts from ``specs/asyncapi.yaml``: pydantic models and the channel table the bus uses.

The channel table maps every event type to its routing key, payload model and producing service,
and names each consuming service's queue and the event types it receives; the bus accepts nothing
that is not in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from spectools.models import pydantic_models
from spectools.tree import Tree, header, ruff_format

SOURCE = "specs/asyncapi.yaml"


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _channel_table(spec: dict[str, Any]) -> str:
    channels = spec["channels"]
    messages = spec["components"]["messages"]
    exchanges = {ch["bindings"]["amqp"]["exchange"]["name"] for ch in channels.values()}
    if len(exchanges) != 1:
        raise ValueError(f"{SOURCE}: expected one exchange, found {sorted(exchanges)}")
    producers: dict[str, str] = {}
    queues: dict[str, tuple[str, list[str]]] = {}
    for op_id, op in sorted(spec["operations"].items()):
        event_type = channels[_ref_name(op["channel"]["$ref"])]["address"]
        if op["action"] == "send":
            producers[event_type] = op["x-producer"]
        else:
            service = op_id.split("Receive", 1)[0]
            queue, types = queues.setdefault(service, (op["x-queue"], []))
            if queue != op["x-queue"]:
                raise ValueError(f"{SOURCE}: {service} receives into two queues")
            types.append(event_type)

    lines = [
        header(SOURCE),
        '"""Every event type with its routing key, model and producer; every consumer queue."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from dataclasses import dataclass",
        "from types import MappingProxyType",
        "from typing import Final, Literal",
        "",
        "from pydantic import BaseModel",
        "",
        "from ecommerce.events import models",
        "",
        f'EXCHANGE: Final = "{exchanges.pop()}"',
        '"""The durable topic exchange every event is published to."""',
        "",
        "EventType = Literal[",
    ]
    event_types = [ch["address"] for ch in channels.values()]
    lines += [f'    "{t}",' for t in event_types]
    lines += ["]", ""]
    models_by_type = {
        ch["address"]: _ref_name(
            messages[_ref_name(next(iter(ch["messages"].values()))["$ref"])]["payload"]["$ref"]
        )
        for ch in channels.values()
    }
    lines += [
        "Event = " + " | ".join(f"models.{m}" for m in models_by_type.values()),
        '"""Any event payload."""',
        "",
        "",
        "@dataclass(frozen=True, slots=True)",
        "class Channel:",
        '    """One event type on the exchange."""',
        "",
        "    event_type: EventType",
        "    routing_key: str",
        "    model: type[Event]",
        "    producer: str",
        "",
        "",
        "@dataclass(frozen=True, slots=True)",
        "class Subscription:",
        '    """The durable queue of one consuming service and the event types bound to it."""',
        "",
        "    queue: str",
        "    event_types: tuple[EventType, ...]",
        "",
        "",
        "CHANNELS: Final[Mapping[str, Channel]] = MappingProxyType(",
        "    {",
    ]
    for ch in channels.values():
        t = ch["address"]
        lines.append(f'        "{t}": Channel("{t}", "{t}", models.{models_by_type[t]}, "{producers[t]}"),')
    lines += [
        "    }",
        ")",
        "",
        "SUBSCRIPTIONS: Final[Mapping[str, Subscription]] = MappingProxyType(",
        "    {",
    ]
    for service, (queue, types) in sorted(queues.items()):
        ordered = [t for t in event_types if t in types]
        quoted = ", ".join(f'"{t}"' for t in ordered)
        lines.append(f'        "{service}": Subscription("{queue}", ({quoted},)),')
    lines += [
        "    }",
        ")",
        "",
        "_BY_MODEL: Final[Mapping[type[BaseModel], Channel]] = MappingProxyType(",
        "    {channel.model: channel for channel in CHANNELS.values()}",
        ")",
        "",
        "",
        "def channel_of(event: Event) -> Channel:",
        '    """The channel an event payload travels on."""',
        "    return _BY_MODEL[type(event)]",
    ]
    return ruff_format("\n".join(lines) + "\n")


def generate(spec_path: Path, tree: Tree, package_dir: str) -> None:
    spec = yaml.safe_load(spec_path.read_text())
    tree.add(f"{package_dir}/ecommerce/events/__init__.py", header(SOURCE) + '"""Event contracts."""\n')
    tree.add(f"{package_dir}/ecommerce/events/models.py", pydantic_models(spec_path, "asyncapi", SOURCE))
    tree.add(f"{package_dir}/ecommerce/events/channels.py", _channel_table(spec))
