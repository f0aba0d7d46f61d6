"""dvc.yaml declares every project module a stage's code imports (issue 10, item 7).

``dvc repro`` reruns a stage only when one of its declared ``deps`` changed, so a
module the stage imports but does not declare is a silent staleness bug: edit it
and the outputs stay as they were. For every stage whose ``cmd`` is
``pozytywka <name>``, this test follows the imports of its entry point
(``pozytywka.stages.<module>`` from ``cli.STAGES``, plus ``config`` and
``errors`` that ``cli`` itself imports to run any stage) transitively inside the
package with :mod:`ast` (imports inside functions included, ``TYPE_CHECKING``
blocks excluded) and checks that each module file is covered by a ``deps`` entry
(the file itself or a folder above it). Stages other engineers add are checked
the same way, as soon as ``dvc.yaml`` and ``cli.STAGES`` have them.

Not counted: ``cli.py`` (the dispatch table: adding a subcommand must not rerun
every stage) and package ``__init__.py`` files that only re-export (docstring,
imports, dunder names): the modules they import are followed instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from pozytywka.cli import STAGES

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "pozytywka"
#: What ``cli._run_stage`` and ``cli`` import to run any stage.
RUNNER_MODULES = ("pozytywka.config", "pozytywka.errors")


def _file(module: str) -> Path | None:
    """The source file of a project module, or None when it is not one."""
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_package(module: str) -> bool:
    return (SRC.joinpath(*module.split(".")) / "__init__.py").is_file()


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imported_modules(module: str) -> set[str]:
    """Project modules ``module`` imports directly (and the packages above them)."""
    path = _file(module)
    assert path is not None, module
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if _is_package(module) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if _under_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from . import plays` names a module; `from .x import f` names a function
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c imports a and a.b first
                prefix = ".".join(parts[:i])
                if prefix.split(".")[0] == PACKAGE and _file(prefix) is not None:
                    found.add(prefix)
    return found


def closure(roots: list[str]) -> set[str]:
    """Every project module reachable from ``roots`` by imports."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(imported_modules(module) - seen)
    return seen


def _only_reexports(path: Path) -> bool:
    """A package ``__init__`` with nothing but a docstring, imports and dunder names."""
    if path.name != "__init__.py":
        return False
    for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        if isinstance(stmt, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id.startswith("__") for t in stmt.targets
        ):
            continue
        return False
    return True


def stage_code_files(module: str) -> set[str]:
    """Files (relative to the repo root) a stage run executes, as dvc.yaml should list them."""
    files = set()
    for mod in closure([f"{PACKAGE}.stages.{module}", *RUNNER_MODULES]):
        path = _file(mod)
        if path is not None and not _only_reexports(path):
            files.add(path.relative_to(ROOT).as_posix())
    return files


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == dep.rstrip("/") or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def _pozytywka_stages() -> list[tuple[str, str, list[str]]]:
    """(stage, cli module, deps) for every dvc.yaml stage whose cmd is `pozytywka <name>`."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out = []
    for stage, spec in stages.items():
        words = str(spec["cmd"]).split()
        if len(words) >= 2 and words[0] == "pozytywka":
            out.append((stage, STAGES[words[-1]][0], [str(d) for d in spec.get("deps", [])]))
    return out


def test_every_pozytywka_stage_in_dvc_yaml_is_found():
    # The parametrised test below must not pass by checking nothing.
    assert {name for name, _, _ in _pozytywka_stages()} >= set(STAGES)


@pytest.mark.parametrize(
    ("stage", "module", "deps"), _pozytywka_stages(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_dvc_yaml_declares_every_module_the_stage_imports(stage, module, deps):
    missing = sorted(p for p in stage_code_files(module) if not _covered(p, deps))
    assert missing == [], f"stage {stage}: add to its deps in dvc.yaml: {missing}"


def test_the_import_walk_finds_relative_lazy_and_package_imports():
    """The walk itself, on modules whose imports are known (guards a walk that finds nothing)."""
    features = stage_code_files("features")
    assert {
        "src/pozytywka/stages/features.py",
        "src/pozytywka/paths.py",  # `from .. import paths`
        "src/pozytywka/plays.py",  # `from ..plays import ...`
        "src/pozytywka/weeks.py",  # through plays (transitive)
        "src/pozytywka/errors.py",
        "src/pozytywka/config.py",
    } <= features
    assert "src/pozytywka/__init__.py" not in features  # docstring + __version__ only
    assert not any(p.startswith("src/pozytywka/experiment/") for p in features)
    assert _covered("src/pozytywka/ingest/clean.py", ["src/pozytywka/ingest"])
    assert not _covered("src/pozytywka/ingest_extra.py", ["src/pozytywka/ingest"])
