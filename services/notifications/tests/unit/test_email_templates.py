"""The message texts: every kind renders a subject a person understands, a text and an HTML body; values
are escaped in HTML only; broken template files are refused at start."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from notifications import domain
from notifications.adapters.email_templates import TEMPLATES_DIR, EmailTemplates, TemplateError
from notifications.domain import CancellationReason, Money, Notice, NoticeLine, TemplateKind

TIMES = "\N{MULTIPLICATION SIGN}"
ORDER = UUID("0b4f3c1e-9d2a-4c3b-8e6f-1a2b3c4d5e6f")
USER = uuid4()
EMAIL = "ada@example.com"
TOTAL = Money(2500, "EUR")
TEMPLATES = EmailTemplates()

NOTICES: dict[TemplateKind, Notice] = {
    TemplateKind.ORDER_RECEIVED: domain.order_received(
        order_id=ORDER,
        user_id=USER,
        recipient=EMAIL,
        lines=(NoticeLine("Enamel mug", 2, Money(2500, "EUR")),),
        total=TOTAL,
    ),
    TemplateKind.ORDER_PAID: domain.order_paid(order_id=ORDER, user_id=USER, recipient=EMAIL, total=TOTAL),
    TemplateKind.ORDER_CANCELLED: domain.order_cancelled(
        order_id=ORDER,
        user_id=USER,
        recipient=EMAIL,
        total=TOTAL,
        reason=CancellationReason.PAYMENT_DECLINED,
        was_paid=False,
    ),
    TemplateKind.PAYMENT_FAILED: domain.payment_failed(
        order_id=ORDER, user_id=USER, recipient=EMAIL, amount=TOTAL, message="Your card was declined."
    ),
    TemplateKind.PAYMENT_REFUNDED: domain.payment_refunded(
        order_id=ORDER, user_id=USER, recipient=EMAIL, amount=TOTAL
    ),
}

# kind -> (subject, what the body must say)
EXPECTED = {
    TemplateKind.ORDER_RECEIVED: (
        "We received your order 0b4f3c1e — €25.00",
        [f"2 {TIMES} Enamel mug", "€25.00"],
    ),
    TemplateKind.ORDER_PAID: ("Your order 0b4f3c1e is confirmed — €25.00", ["payment of €25.00"]),
    TemplateKind.ORDER_CANCELLED: (
        "Your order 0b4f3c1e has been cancelled",
        ["the payment was declined", "Nothing was charged."],
    ),
    TemplateKind.PAYMENT_FAILED: (
        "The payment for your order 0b4f3c1e did not go through",
        ["Your card was declined.", "€25.00"],
    ),
    TemplateKind.PAYMENT_REFUNDED: ("Your refund of €25.00 for order 0b4f3c1e", ["refunded €25.00"]),
}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def visible_text(html: str) -> str:
    """What a reader of the HTML sees, entities decoded, whitespace collapsed."""
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.chunks).split())


@pytest.mark.parametrize("kind", list(TemplateKind))
def test_every_kind_renders_a_subject_a_text_and_an_html_body(kind: TemplateKind) -> None:
    message = TEMPLATES.render(NOTICES[kind])
    subject, phrases = EXPECTED[kind]
    assert message.subject == subject
    for phrase in [*phrases, str(ORDER)]:
        assert phrase in message.body_text
    for phrase in phrases:
        assert phrase in visible_text(message.body_html)
    assert "$" not in message.body_text + message.body_html + message.subject  # nothing left unfilled
    assert message.body_html.startswith("<!DOCTYPE html>")
    assert f"<title>{subject}</title>" in message.body_html
    assert "<" not in message.body_text


def test_values_are_escaped_in_html_but_not_in_text() -> None:
    notice = domain.order_received(
        order_id=ORDER,
        user_id=USER,
        recipient=EMAIL,
        lines=(NoticeLine('<script>alert("x")</script> & Co', 1, TOTAL),),
        total=TOTAL,
    )
    failed = domain.payment_failed(
        order_id=ORDER, user_id=USER, recipient=EMAIL, amount=TOTAL, message="<b>declined</b> & 'done'"
    )
    received, declined = TEMPLATES.render(notice), TEMPLATES.render(failed)

    assert "<script>" not in received.body_html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in received.body_html
    assert '<script>alert("x")</script> & Co' in received.body_text
    assert "&lt;b&gt;declined&lt;/b&gt; &amp; &#x27;done&#x27;" in declined.body_html
    assert "<b>declined</b> & 'done'" in declined.body_text


def test_a_subject_is_one_line_whatever_the_values_hold() -> None:
    notice = domain.payment_refunded(order_id=ORDER, user_id=USER, recipient=EMAIL, amount=TOTAL)
    notice = Notice(notice.kind, ORDER, USER, EMAIL, {**notice.values, "amount": "€1\r\nBcc: x@evil"})
    subject = TEMPLATES.render(notice).subject
    assert "\n" not in subject
    assert "\r" not in subject


def test_several_lines_are_listed_in_order() -> None:
    lines = (NoticeLine("Mug", 2, Money(2500, "EUR")), NoticeLine("Tee", 1, Money(2400, "EUR")))
    notice = domain.order_received(
        order_id=ORDER, user_id=USER, recipient=EMAIL, lines=lines, total=Money(4900, "EUR")
    )
    text = TEMPLATES.render(notice).body_text
    assert f"  2 {TIMES} Mug: €25.00\n  1 {TIMES} Tee: €24.00\n" in text
    assert "Total: €49.00" in text


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, directory)
    return directory


def test_a_template_using_a_value_its_kind_lacks_is_refused_naming_the_file(template_copy: Path) -> None:
    (template_copy / "order_paid.txt").write_text("Hello, your refund of $amount is on its way.\n")
    with pytest.raises(TemplateError, match=r"order_paid\.txt uses \['amount'\]"):
        EmailTemplates(template_copy)


def test_a_malformed_placeholder_is_refused(template_copy: Path) -> None:
    (template_copy / "payment_refunded.html").write_text("<p>It costs $5.</p>\n")
    with pytest.raises(TemplateError, match=r"payment_refunded\.html has a malformed placeholder"):
        EmailTemplates(template_copy)


def test_a_missing_template_is_refused(template_copy: Path) -> None:
    (template_copy / "order_cancelled.subject").unlink()
    with pytest.raises(TemplateError, match=r"cannot read template .*order_cancelled\.subject"):
        EmailTemplates(template_copy)
