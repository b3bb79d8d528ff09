"""placeholder"""
from pathlib import Path
from codegen.tree import Tree

def generate(spec_path: Path, tree: Tree, package_dir: str) -> None:
    return None
