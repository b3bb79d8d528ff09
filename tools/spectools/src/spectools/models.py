"""Pydantic v2 models from a spec, through datamodel-code-generator (pinned in the spectools project)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal

from spectools.tree import header


def pydantic_models(spec: Path, kind: Literal["asyncapi", "openapi"], source: str) -> str:
    """The models module for ``spec``: strict (``extra='forbid'`` where the spec says so), deterministic."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "models.py"
        command = [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            "--input",
            str(spec),
            "--input-file-type",
            kind,
            "--output",
            str(output),
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--target-python-version",
            "3.11",
            "--formatters",
            "ruff-format",
            "--disable-timestamp",
            "--use-annotated",
            "--field-constraints",
            "--use-standard-collections",
            "--use-union-operator",
            "--use-double-quotes",
            "--enum-field-as-literal",
            "all",
            "--collapse-root-models",
            "--use-schema-description",
            "--use-field-description",
            "--custom-file-header",
            header(source).rstrip("\n"),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"datamodel-codegen failed on {spec}:\n{result.stderr}")
        return output.read_text()
