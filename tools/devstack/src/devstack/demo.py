"""``python -m devstack.demo`` (``make demo``): one customer's journey through the running system, told
through the SDK: register, browse, an order that is paid, one whose payment is declined, and the emails.

Needs the stack of ``make run``, found as the SDK would (``ECOMMERCE_BASE_URL``) or, when that is not set,
from the same settings ``make run`` reads (``GATEWAY_HTTP_BIND`` in the environment or ``.env``).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from devstack.addresses import AddressError, api_base_url
from devstack.stack import ENV_FILE, merge, settings_layers, var_dir_of
from ecommerce_sdk import APIConnectionError, Client, EcommerceError
from ecommerce_sdk.types import Order

console = Console()
PASSWORD = "demo-password-" + uuid.uuid4().hex[:8]


def _money(amount_minor: int, currency: str) -> str:
    return f"{amount_minor / 100:,.2f} {currency}"


def _journey(client: Client, title: str, sku: str, quantity: int, token: str) -> Order:
    console.rule(f"[bold]{title}")
    order = client.orders.create(items=[{"sku": sku, "quantity": quantity}], payment_token=token)
    console.print(
        f"placed order [cyan]{order.id}[/]: {quantity} x {sku}, total "
        f"{_money(order.total.amount_minor, order.total.currency)}, payment token [magenta]{token}[/] -> "
        f"[yellow]{order.status}[/]"
    )
    order = client.orders.wait_for_status(order.id, timeout=60)
    colour = "green" if order.status == "PAID" else "red"
    reason = f" ({order.cancellation_reason})" if order.cancellation_reason else ""
    console.print(f"the saga settled it: [{colour}]{order.status}[/]{reason}")
    payment = client.orders.payment(order.id)
    detail = payment.provider_reference or payment.failure_reason or ""
    console.print(f"payment: {payment.status} after {payment.attempts} attempt(s) {detail}")
    return order


def _emails(client: Client, orders: list[Order], expected: int, maildir: Path) -> None:
    console.rule("[bold]Emails")
    deadline = time.monotonic() + 60
    while True:
        notes = [n for n in client.notifications.list() if n.order_id in {o.id for o in orders}]
        if sum(n.status == "SENT" for n in notes) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    table = Table("order", "template", "subject", "to", "status")
    for note in sorted(notes, key=lambda n: n.created_at):
        table.add_row(str(note.order_id)[:8], note.template, note.subject, note.recipient, note.status)
    console.print(table)
    console.print(f"The messages themselves are .eml files in {maildir} (the dev SMTP sink).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__)
    parser.add_argument(
        "--env-file", type=Path, default=ENV_FILE, help="settings under the environment's (default: .env)"
    )
    layers = settings_layers(parser.parse_args(argv).env_file)
    try:
        api = api_base_url(*layers)
    except AddressError as error:
        console.print(f"[red]Where is the API? {error}")
        return 2
    maildir = var_dir_of(merge(layers)) / "mail"
    origin = api.source if api.source.startswith("follows") else f"{api.name} from {api.source}"
    console.print(f"The API: [cyan]{api.value}[/] ({origin})")
    email = f"demo-{uuid.uuid4().hex[:8]}@example.com"
    try:
        with Client(base_url=api.value) as client:
            console.rule("[bold]A customer")
            user = client.auth.register(email=email, password=PASSWORD)
            client.auth.login(email=email, password=PASSWORD)
            console.print(f"registered and logged in as [cyan]{user.email}[/] ({user.role})")

            table = Table("sku", "product", "price", "in stock", title="The catalog")
            for product in client.products.list():
                price = _money(product.unit_price.amount_minor, product.unit_price.currency)
                table.add_row(product.sku, product.name, price, str(product.stock_available))
            console.print(table)

            paid = _journey(client, "An order that is paid", "MUG-001", 2, "tok_success")
            declined = _journey(client, "An order whose payment is declined", "TEE-042", 1, "tok_declined")
            stock = client.products.get("TEE-042").stock_available
            console.print(f"TEE-042 stock after the cancellation: {stock} (the reservation was released)")
            # received + paid for the first order; received + payment failed + cancelled for the second.
            _emails(client, [paid, declined], expected=5, maildir=maildir)
    except APIConnectionError as error:
        console.print(
            f"[red]Cannot reach the API at {api.value} ({error}). Is `make run` running in another shell, "
            "with the same settings?"
        )
        return 1
    except EcommerceError as error:
        console.print(f"[red]The API said no: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
