"""The README's Python examples run, one by one, against the in-memory fake API (so they cannot rot).

The examples are written for a real deployment (``Client()`` reads ``ECOMMERCE_BASE_URL`` and
``ECOMMERCE_API_TOKEN``); here the environment names a logged-in customer of the fake, and every ``httpx``
client the examples build, directly or through the SDK, gets the fake's transport unless it brings its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sdk_fakes import BASE_URL, EMAIL, PASSWORD, FakeAPI

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)
HEADINGS = [
    re.findall(r"^## (.+)$", README.read_text()[: README.read_text().index(code)], flags=re.MULTILINE)[-1]
    for code in EXAMPLES
]


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 8
    assert "Quickstart" in HEADINGS


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"{i}-{h}" for i, h in enumerate(HEADINGS)])
def test_readme_example_runs(
    code: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeAPI()
    monkeypatch.setenv("ECOMMERCE_BASE_URL", BASE_URL)
    monkeypatch.setenv("ECOMMERCE_API_TOKEN", api.seed_user(EMAIL, PASSWORD))
    for cls in (httpx.Client, httpx.AsyncClient):
        monkeypatch.setattr(cls, "__init__", _with_transport(cls.__init__, api.transport))

    exec(compile(code, f"{README.name}:{HEADINGS[EXAMPLES.index(code)]}", "exec"), {"__name__": "readme"})

    assert all(r.url.host in {"api.example.test", "127.0.0.1", "shop.example.com"} for r in api.requests)
    capsys.readouterr()


def _with_transport(init: Any, transport: httpx.MockTransport) -> Any:
    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("transport", transport)
        init(self, *args, **kwargs)

    return patched


def test_the_quickstart_prints_what_its_comments_say(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeAPI()
    monkeypatch.setattr(httpx.Client, "__init__", _with_transport(httpx.Client.__init__, api.transport))

    exec(compile(EXAMPLES[HEADINGS.index("Quickstart")], "README.md", "exec"), {"__name__": "readme"})

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "BOOK-042 Hitchhiker's guide 1999 EUR"
    assert out[5].endswith("PENDING 2500")
    assert out[6:] == ["PAID", "SUCCEEDED 2500", "order_paid SENT", "order_received SENT"]
