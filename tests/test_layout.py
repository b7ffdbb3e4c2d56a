"""The layout rules of issue 12, kept by CI: no project module over 400 lines, and no more than 13
top-level modules in `completions/` (a feature that spans several modules gets a sub-package)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400
MAX_COMPLETIONS_TOP_LEVEL_MODULES = 13
# Generated or not ours: migrations, caches; at the root, uploaded media and run-time output.
SKIPPED_DIRS = frozenset({"migrations", "__pycache__", "node_modules"})
SKIPPED_ROOT_DIRS = frozenset({"media", "var", "test-artifacts"})


def project_modules() -> list[Path]:
    """Every .py file of the project, without hidden folders (.venv, bench/.venvs, bench/.work, .git),
    migrations, caches, *.egg-info, and the root's media/, var/ and test-artifacts/."""
    modules = []
    for folder, dirs, files in os.walk(ROOT):
        at_root = Path(folder) == ROOT
        dirs[:] = [
            name
            for name in dirs
            if not name.startswith(".")
            and not name.endswith(".egg-info")
            and name not in SKIPPED_DIRS
            and not (at_root and name in SKIPPED_ROOT_DIRS)
        ]
        modules += [Path(folder, name) for name in files if name.endswith(".py")]
    return sorted(modules)


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_walk_finds_project_modules_and_skips_the_rest():
    found = {path.relative_to(ROOT).as_posix() for path in project_modules()}
    assert {"completions/errors.py", "tests/test_layout.py", "manage.py", "bench/run.py"} <= found
    assert not any("/migrations/" in name or name.startswith((".venv/", "bench/.venvs/")) for name in found)


def test_no_module_is_over_400_lines():
    too_long = {
        path.relative_to(ROOT).as_posix(): lines
        for path in project_modules()
        if (lines := line_count(path)) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"split these along a real seam (at most {MAX_MODULE_LINES} lines a module)"


def test_completions_keeps_a_short_top_level_module_list():
    top_level = sorted(path.name for path in (ROOT / "completions").glob("*.py"))
    assert len(top_level) <= MAX_COMPLETIONS_TOP_LEVEL_MODULES, (
        f"{len(top_level)} modules at the top of completions/ (at most {MAX_COMPLETIONS_TOP_LEVEL_MODULES}): "
        f"{', '.join(top_level)}; group a feature's modules in a sub-package"
    )
