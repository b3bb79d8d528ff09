"""Writes the Secrets of the development overlay into ``secrets/`` (gitignored) with random values.

    python3 deployments/k8s/overlays/dev/generate_secrets.py [--force]

One ``.env``-style file per Secret that ``kustomization.yaml`` generates: a login per service database
(``username`` = the service's PostgreSQL role, ``password``) and the gateway's JWT signing key. Existing
files are kept (so are the passwords the running cluster knows) unless ``--force`` is given. Values are
hexadecimal: they go into database URLs unescaped. Standard library only.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICES = ("orders", "payments", "notifications", "gateway")


def contents() -> dict[str, str]:
    files = {
        f"{service}-db.env": f"username={service}\npassword={secrets.token_hex(24)}\n" for service in SERVICES
    }
    files["gateway.env"] = f"jwt-secret={secrets.token_hex(32)}\n"
    return files


def write(directory: Path, *, force: bool) -> list[Path]:
    """The files written (those missing, or all with ``force``), each readable by the owner only."""
    directory.mkdir(mode=0o700, exist_ok=True)
    written = []
    for name, text in contents().items():
        path = directory / name
        if path.exists() and not force:
            continue
        path.touch(mode=0o600)
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--force", action="store_true", help="replace existing files (new passwords)")
    parser.add_argument("--dir", type=Path, default=HERE / "secrets", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    written = write(args.dir, force=args.force)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"{args.dir}: every file exists already (--force replaces them)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
