"""Adapters of the gateway: HTTP (connexion), gRPC clients, the user store, password hashing and JWTs.

connexion 3.3.0 warns while it loads, about code of its own we cannot change: it imports
``jsonschema.RefResolver`` and ``RefResolutionError`` (deprecated since jsonschema 4.18) and
``starlette.testclient`` (which warns under starlette 1.x when ``httpx2`` is absent). It is imported here
first, with exactly those warnings silenced, so every adapter below gets the loaded module and no other
warning is hidden.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"jsonschema\.\S+ is deprecated", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    import connexion  # type: ignore[import-untyped]  # noqa: F401
