"""vision/ is plain Python in rooms: nothing in it imports Kedro, and no room imports one below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VISION = Path(__file__).resolve().parents[1] / "src" / "crack_pipeline" / "vision"
# Each room may import the shared modules at vision/'s top and the rooms before it, never those after it.
ROOMS = ["data", "models", "training", "evaluation", "explain", "transfer"]
SHARED = {"errors", "settings", "figures", "fonts", "file_modes"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = sorted(VISION.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(VISION)) for p in MODULES])
def test_vision_modules_import_neither_kedro_nor_a_later_room(path):
    modules = imports(path)
    assert not {m for m in modules if m.split(".")[0] in ("kedro", "kedro_datasets", "kedro_mlflow")}
    assert not {
        m for m in modules if m.startswith("crack_pipeline.") and not m.startswith("crack_pipeline.vision")
    }
    room = path.relative_to(VISION).parts[0] if len(path.relative_to(VISION).parts) > 1 else None
    allowed = set(ROOMS[: ROOMS.index(room) + 1]) if room else set()
    for module in modules:
        parts = module.split(".")
        if parts[:2] == ["crack_pipeline", "vision"] and len(parts) > 2:
            target = parts[2]
            assert target in SHARED or target in allowed, f"{path.name} imports {module}"


def test_the_rooms_are_what_the_readme_says():
    assert sorted(p.name for p in VISION.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(ROOMS)
    assert {p.stem for p in VISION.glob("*.py")} == SHARED | {"__init__"}
