"""params.yaml keeps its layout through DVC's own params writer (``dvc exp run -S``).

``dvc exp run -S key=value`` rewrites params.yaml with ruamel.yaml's round-trip
dumper after merging Hydra's overrides (``dvc.utils.hydra.apply_overrides``). A
flow list (``[1, 2]``), a double-quoted string or a comment after a section's
last list item would all be reformatted, so a one-param experiment would show as
a many-line diff. params.yaml is written in the writer's own layout; these tests
run the writer itself on a copy and check that one param changes one line.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
from dvc.utils.hydra import apply_overrides
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]


def _scalar_leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _scalar_leaves(value, f"{prefix}{key}.")
    elif not isinstance(node, list):
        yield prefix[:-1], node


def _other_value(value):
    """A different value of the same YAML type, as a Hydra override string."""
    if isinstance(value, bool):
        return str(not value).lower()
    if isinstance(value, int):
        return str(value + 1)
    if isinstance(value, float):
        return repr(value * 2 if value else 1.5)
    return f"'{value}x'"  # quoted: Hydra's grammar reads ':' and '=' otherwise


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


PARAMS = YAML(typ="safe").load((ROOT / "params.yaml").read_text(encoding="utf-8"))
LEAVES = dict(_scalar_leaves(PARAMS))


def test_every_scalar_param_is_found():
    assert "catboost.depth" in LEAVES and "data.synthetic.start_date" in LEAVES
    assert len(LEAVES) > 60


@pytest.mark.parametrize("key", sorted(LEAVES))
def test_one_param_one_line(tmp_path, key):
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    before = path.read_text(encoding="utf-8")
    apply_overrides(path, [f"{key}={_other_value(LEAVES[key])}"])
    changed = _changed_lines(before, path.read_text(encoding="utf-8"))
    assert len(changed) == 2, "\n".join(changed)
    assert changed[0].startswith("-") and changed[1].startswith("+")
    assert key.rsplit(".", 1)[-1] in changed[1]


def test_a_list_param_changes_only_its_items(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    before = path.read_text(encoding="utf-8")
    apply_overrides(path, ["recs.popularity.window_weeks=[3,4]"])
    changed = _changed_lines(before, path.read_text(encoding="utf-8"))
    assert changed == ["-    - 1", "-    - 2", "+    - 3", "+    - 4"]


def test_no_change_rewrites_nothing(tmp_path):
    """The writer's fixed point: applying a param's own value leaves the file as it was."""
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    before = path.read_text(encoding="utf-8")
    apply_overrides(path, ["catboost.depth=" + str(LEAVES["catboost.depth"])])
    assert path.read_text(encoding="utf-8") == before
