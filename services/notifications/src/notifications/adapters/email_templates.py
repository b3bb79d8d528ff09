"""The message texts: ``string.Template`` files under ``notifications/templates``, rendered per notice.

Per kind of notice (``TemplateKind``) there are three files: ``<kind>.subject`` (one line), ``<kind>.txt``
and ``<kind>.html``; ``layout.txt`` / ``layout.html`` wrap every body (``$content``, ``$subject``) and
``line.txt`` / ``line.html`` render one order line into ``$items``. Every value is escaped before it goes
into HTML. The files are read and checked once at start: a template naming a value its kind does not carry
stops the service with ``TemplateError`` instead of failing on the first event.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from notifications.domain import TEMPLATE_FIELDS, Notice, NoticeLine, RenderedMessage, TemplateKind

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
LAYOUT_FIELDS = frozenset({"subject", "content"})
LINE_FIELDS = frozenset({"name", "quantity", "line_total"})
ITEMS = "items"
"""The rendered order lines, available to the templates of every kind (empty when a notice has none)."""


class TemplateError(Exception):
    """A template file is missing, malformed or uses a placeholder its kind does not provide."""


@dataclass(frozen=True, slots=True)
class _KindTemplates:
    subject: Template
    text: Template
    html: Template


def _load(directory: Path, name: str, allowed: frozenset[str]) -> Template:
    path = directory / name
    try:
        template = Template(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateError(f"cannot read template {path}: {error}") from error
    if not template.is_valid():
        raise TemplateError(f"template {path} has a malformed placeholder (write $$ for a dollar sign)")
    unknown = set(template.get_identifiers()) - allowed
    if unknown:
        raise TemplateError(f"template {path} uses {sorted(unknown)}; it may use {sorted(allowed)}")
    return template


class EmailTemplates:
    """The ``Renderer`` port over the template files."""

    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self._layout_text = _load(directory, "layout.txt", LAYOUT_FIELDS)
        self._layout_html = _load(directory, "layout.html", LAYOUT_FIELDS)
        self._line_text = _load(directory, "line.txt", LINE_FIELDS)
        self._line_html = _load(directory, "line.html", LINE_FIELDS)
        self._kinds = {
            kind: _KindTemplates(
                subject=_load(directory, f"{kind}.subject", TEMPLATE_FIELDS[kind]),
                text=_load(directory, f"{kind}.txt", TEMPLATE_FIELDS[kind] | {ITEMS}),
                html=_load(directory, f"{kind}.html", TEMPLATE_FIELDS[kind] | {ITEMS}),
            )
            for kind in TemplateKind
        }

    def render(self, notice: Notice) -> RenderedMessage:
        templates = self._kinds[notice.kind]
        # One line, whatever the values hold: a header cannot carry a line break.
        subject = " ".join(templates.subject.substitute(notice.values).split())
        text_values = {**notice.values, ITEMS: self._lines(notice.lines, self._line_text, escape=False)}
        html_values = {
            **_escaped(notice.values),
            ITEMS: self._lines(notice.lines, self._line_html, escape=True),
        }
        body_text = self._layout_text.substitute(
            subject=subject, content=templates.text.substitute(text_values)
        )
        body_html = self._layout_html.substitute(
            subject=html.escape(subject), content=templates.html.substitute(html_values)
        )
        return RenderedMessage(subject, body_text, body_html)

    @staticmethod
    def _lines(lines: tuple[NoticeLine, ...], template: Template, *, escape: bool) -> str:
        rendered = []
        for line in lines:
            values = {"name": line.name, "quantity": str(line.quantity), "line_total": str(line.line_total)}
            rendered.append(template.substitute(_escaped(values) if escape else values))
        return "".join(rendered)


def _escaped(values: Mapping[str, str]) -> dict[str, str]:
    return {name: html.escape(value, quote=True) for name, value in values.items()}
