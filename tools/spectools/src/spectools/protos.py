"""gRPC stubs: protoc (grpcio-tools) + mypy-protobuf over every ``.proto`` under ``specs/proto``.

The output is importable as ``ecommerce.<service>.v1`` (the proto package == the directory); protoc
writes no ``__init__.py``, so one is added per directory. The ``.pyi`` stubs are typed for ``grpc.aio``
only (mypy-protobuf's ``only_async``), which is the only gRPC flavour the services use.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

from spectools.tree import Tree, header


def _plugin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError(f"{name} not found next to {sys.executable}: install mypy-protobuf")
    return found


def generate(proto_root: Path, tree: Tree, package_dir: str) -> None:
    """Compiles every proto under ``proto_root`` into ``tree`` below ``package_dir``."""
    protos = sorted(p.relative_to(proto_root).as_posix() for p in proto_root.rglob("*.proto"))
    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{well_known}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={tmp}",
            f"--mypy_out=quiet:{tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_grpc_out=quiet,only_async:{tmp}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {protos}")
        out = Path(tmp)
        packages: set[str] = set()
        for file in sorted(out.rglob("*")):
            if not file.is_file():
                continue
            rel = file.relative_to(out)
            source = f"specs/proto/{rel.parent.as_posix()}/{rel.name.split('_pb2')[0]}.proto"
            tree.add(f"{package_dir}/{rel.as_posix()}", header(source) + file.read_text())
            for depth in range(1, len(rel.parts)):
                packages.add("/".join(rel.parts[:depth]))
    for package in sorted(packages):
        if "/" not in package:
            continue  # the top-level package is written by the orchestrator
        tree.add(f"{package_dir}/{package}/__init__.py", header("specs/proto") + _package_doc(package))


def _package_doc(package: str) -> str:
    dotted = package.replace("/", ".")
    return f'"""Package ``{dotted}`` of the gRPC contracts."""\n'
