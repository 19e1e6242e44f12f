"""The packages form layers: dependencies point one way, and no two packages import each other.

Every import counts, lazy ones inside functions and TYPE_CHECKING ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The vocabulary and the rules at the bottom, the CLI on top; a package may import only
# from layers below its own (siblings stay independent of each other).
LAYERS: dict[str, int] = {
    "vocabulary": 0,
    "alert_rules": 1,
    "streams": 2, "detectors": 2, "receivers": 2, "deploy": 2, "history": 2, "partners": 2,
    "commission": 3,  # reads the history
    "center": 4,  # serves the history's reports, the commission's maps and the partners' feeds
    "centinela": 5,
}


def imports_of(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """For each of our other packages that `package` imports: the files that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in LAYERS and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(root)))
    return found


GRAPH = {package: imports_of(package) for package in LAYERS if (ROOT / package).is_dir()}


def test_no_import_cycle_between_packages() -> None:
    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for step in GRAPH.get(start, {}):
            if step == goal or (step not in seen and reaches(step, goal, seen | {step})):
                return True
        return False

    cyclic = sorted(package for package in GRAPH if reaches(package, package, {package}))
    assert not cyclic, f"packages in an import cycle: {cyclic}"


def test_every_import_points_down_the_layers() -> None:
    upward = [
        f"{file} imports {target} (layer {LAYERS[target]}) from layer {LAYERS[package]}"
        for package, targets in GRAPH.items()
        for target, files in targets.items()
        if LAYERS[target] >= LAYERS[package]
        for file in sorted(files)
    ]
    assert not upward, "\n".join(upward)


def test_the_check_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "lazy.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import center.app\n"
        "def later():\n    from centinela.config import load_config\n")
    assert imports_of("streams", tmp_path) == {"center": {"streams/lazy.py"}, "centinela": {"streams/lazy.py"}}
