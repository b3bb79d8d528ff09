"""Tools for the contracts under ``specs/``.

- ``python -m spectools.generate`` regenerates ``generated/`` from the specs; ``--check`` regenerates into
  memory and fails, naming each file, when the committed code differs.
- ``python -m spectools.lint`` validates the three specs (OpenAPI, AsyncAPI, protobuf through buf).
"""
