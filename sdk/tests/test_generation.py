"""How ``make generate`` treats the SDK package, where generated and hand-written modules live side by side.

``spectools.generate.Output`` writes the SDK's generated modules beside ``generated/`` (``../sdk/src``);
there only files that start with the DO-NOT-EDIT header are the generator's: hand-written modules are
never reported or removed, stale generated ones are. (The determinism and drift of the whole tree,
SDK included, are checked by ``tests/contract/test_codegen.py``.)
"""

from __future__ import annotations

from pathlib import Path

from spectools import generate, sdk
from spectools.tree import Tree, header

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "../sdk/src/ecommerce_sdk"
GENERATED = header("specs/openapi.yaml") + "x = 1\n"


def output(files: dict[str, str]) -> generate.Output:
    tree = generate.Output()
    for path, content in files.items():
        tree.add(path, content)
    return tree


def test_hand_written_modules_are_kept_and_stale_generated_ones_removed(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    package = tmp_path / "sdk" / "src" / "ecommerce_sdk"
    package.mkdir(parents=True)
    (package / "_base_client.py").write_text("# hand-written\n")
    (package / "py.typed").write_text("")
    (package / "resources").mkdir()
    (package / "resources" / "gone.py").write_text(GENERATED)
    tree = output({"contracts/a.py": GENERATED, f"{PACKAGE}/resources/orders.py": GENERATED})

    tree.write(out)

    assert (package / "_base_client.py").read_text() == "# hand-written\n"
    assert (package / "py.typed").read_text() == ""
    assert (package / "resources" / "orders.py").read_text() == GENERATED
    assert not (package / "resources" / "gone.py").exists()
    assert (out / "contracts" / "a.py").read_text() == GENERATED
    assert tree.diff(out) == []


def test_drift_in_the_sdk_package_is_named_but_hand_written_code_is_not(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    package = tmp_path / "sdk" / "src" / "ecommerce_sdk"
    tree = output({"contracts/a.py": GENERATED, f"{PACKAGE}/types/_models.py": GENERATED})
    tree.write(out)
    (package / "_client.py").write_text("# hand-written, not the generator's business\n")
    (package / "types" / "_models.py").write_text(GENERATED + "y = 2\n")
    (package / "stale.py").write_text(GENERATED)

    problems = tree.diff(out)

    assert len(problems) == 2
    assert problems[0] == f"{package / 'stale.py'}: not produced by the generator (stale or hand-written)"
    assert problems[1].startswith(f"{package / 'types' / '_models.py'}: differs from the specs")


def test_a_spec_edit_shows_up_in_the_sdk_module_it_changes(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.yaml"
    spec.write_text(
        (ROOT / "specs" / "openapi.yaml").read_text().replace("Place an order", "Order things", 1)
    )
    part = Tree()
    sdk.generate(spec, part, generate.SDK_SRC)

    problems = output(part.files).diff(ROOT / "generated")

    changed = ROOT / "sdk" / "src" / "ecommerce_sdk" / "resources" / "orders.py"
    sdk_problems = [p for p in problems if p.startswith(str(ROOT / "sdk"))]
    assert len(sdk_problems) == 1
    assert sdk_problems[0].startswith(f"{changed}: differs from the specs")
    assert "+        " + '"""Order things.' in sdk_problems[0]
