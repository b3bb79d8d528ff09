"""connexion's request validators, adjusted so that every bad request is a clear 400 and never a 500.

- ``StrictJsonBodyValidator``: connexion 3.3.0 decodes the body with the charset of the ``Content-Type``
  before parsing it and lets ``UnicodeDecodeError`` (a body that is not UTF-8) and ``LookupError`` (an
  unknown charset) escape, which ends as a 500; a deeply nested document overflows the parser's recursion
  limit the same way. This subclass turns all of them into a 400 problem, and reports schema violations
  one entry per invalid field.
- ``NamedParameterValidator``: connexion's parameter errors are jsonschema's full message (with a dump of
  the schema) and do not name the parameter; these name it and stop at the first line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from connexion.validators import JSONRequestBodyValidator, ParameterValidator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError
from starlette.types import Scope

from gateway.adapters.problems import ApiProblem, FieldProblem


def _field(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "body"


class StrictJsonBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode(self._encoding)
        except LookupError:
            raise ApiProblem(400, f"Unknown charset {self._encoding!r}; send UTF-8 JSON.") from None
        except UnicodeDecodeError as error:
            raise ApiProblem(
                400, f"The request body is not valid {self._encoding} (byte {error.start}); send UTF-8 JSON."
            ) from None
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ApiProblem(400, f"The request body is not valid JSON: {error}") from None
        except RecursionError:
            raise ApiProblem(400, "The request body is nested too deeply.") from None

    def _validate(self, body: Any) -> None:
        if body is None and not self._nullable:
            raise ApiProblem(400, "The request body must not be empty.")
        try:
            errors = sorted(
                self._validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]
            )
        except RecursionError:
            raise ApiProblem(400, "The request body is nested too deeply.") from None
        if errors:
            problems = [FieldProblem(_field(e), e.message) for e in errors]
            first = problems[0]
            raise ApiProblem(
                400, f"Request body is not valid: {first.field}: {first.message}", errors=problems
            )


class NamedParameterValidator(ParameterValidator):  # type: ignore[misc]
    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        error: str | None = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        if error is None or error.startswith("Missing"):
            return error
        message = error.split("\n\n", 1)[0]  # jsonschema's message, without its dump of the schema
        return f"{parameter_type} parameter '{param.get('name', param_name)}': {message}"
