"""Turns the specs under ``specs/`` into the code under ``generated/``.

``python -m codegen`` regenerates everything; ``python -m codegen --check`` regenerates into a
temporary directory and fails, naming each file, when the committed code differs from the specs.
"""
