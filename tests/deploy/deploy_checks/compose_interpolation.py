"""Compose's variable interpolation (``$VAR``, ``${VAR:-default}``, ``${VAR:?error}``, ...) over a loaded
Compose file, and the names of the variables it uses. Hand-written: python-dotenv (installed) expands only
``${VAR}`` and ``${VAR:-default}``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_COMPOSE_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    pass


def interpolate_string(value: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    ${VAR?error}, ${VAR:+replacement}, ${VAR+replacement}."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("name")
        op, arg = match.group("op"), match.group("arg") or ""
        present, current = name in env, env.get(name, "")
        if op is None:
            return current
        empty_counts = op.startswith(":")
        unset = not present or (empty_counts and current == "")
        kind = op[-1]
        if kind == "-":
            return arg if unset else current
        if kind == "?":
            if unset:
                raise InterpolationError(f"{name}: {arg or 'required'}")
            return current
        return "" if unset else arg  # "+"

    return _COMPOSE_VARIABLE.sub(replace, value)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_string(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)


def compose_variables(doc: Any) -> set[str]:
    names = set()
    for text in strings(doc):
        for match in _COMPOSE_VARIABLE.finditer(text):
            name = match.group("braced") or match.group("name")
            if name:
                names.add(name)
    return names
