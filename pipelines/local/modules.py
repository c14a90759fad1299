"""The project modules a program imports, found by reading source (nothing is imported).

The up-to-date check hashes these files: every module reachable from the entry modules through
``import`` statements (also those inside functions) or named in a string by its dotted path (TFX
loads user code that way: ``run_fn="models.model.run_fn"``), plus the packages above each
module (their ``__init__.py`` runs on import). Reading imports, rather than globbing folders,
keeps the check right when code moves between subpackages, and leaves out what the run never
loads (the monitor, the demo, tests).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

PROJECT_PACKAGES = ("models", "pipelines")
_DOTTED = re.compile(r"(?:models|pipelines)(?:\.[A-Za-z_]\w*)+")  # PROJECT_PACKAGES


def module_file(root: Path, module: str) -> Path | None:
    """The source file of ``module`` under ``root`` (a module or a package), or None."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _lazy_attributes(tree: ast.AST, is_package: bool) -> set[int]:
    """The nodes of a package's module-level ``__getattr__`` (PEP 562): its imports run only
    when someone asks the package for such an attribute (``pipelines.ModelCard``, which TFX's
    Kubeflow launcher resolves by name), not when the package or a submodule is imported."""
    if not is_package or not isinstance(tree, ast.Module):
        return set()
    return {id(node) for statement in tree.body
            if isinstance(statement, ast.FunctionDef) and statement.name == "__getattr__"
            for node in ast.walk(statement)}


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    lazy = _lazy_attributes(tree, is_package)
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            for alias in node.names:  # ``from pkg import submodule``
                yield f"{base}.{alias.name}"
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and _DOTTED.fullmatch(node.value)):
            parts = node.value.split(".")  # "models.model.run_fn": the module is a prefix
            yield from (".".join(parts[:i]) for i in range(2, len(parts) + 1))


def project_modules(root: Path, entries: Iterable[str]) -> dict[str, Path]:
    """Module name -> file for every project module reachable from ``entries``."""
    found: dict[str, Path] = {}
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        path = module_file(root, name)
        if path is None:
            continue
        top = name.split(".")[0]
        if top not in PROJECT_PACKAGES and path.parent != root:
            continue
        found[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        tree = ast.parse(path.read_bytes(), filename=str(path))
        for imported in _imported(tree, name, path.name == "__init__.py"):
            if imported.split(".")[0] in PROJECT_PACKAGES:
                todo.append(imported)
    return found
