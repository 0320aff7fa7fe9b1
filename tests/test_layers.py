"""The package layers hold, and stay readable: the import contracts in pyproject.toml ([tool.importlinter]),
checked on every run.

api -> domain -> infrastructure; infrastructure imports neither domain nor api, domain never imports api, no two
packages (or modules) of domain/ import each other round a cycle, and backend/ never imports devtools/. No file of
backend/ passes 500 lines, no function 60.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # import-linter reads every import statement of the packages (lazy ones inside functions too), from the
    # packages found under `root` first (it puts its working directory at the front of the path).
    return subprocess.run(
        [LINT_IMPORTS, "--no-logo", "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_are_kept() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "statement", "broken"),
    [
        ("backend/infrastructure/storage.py", "from backend.domain import errors", "infrastructure/"),
        ("backend/infrastructure/settings.py", "import backend.api.problems", "infrastructure/"),
        ("backend/domain/member/service.py", "from backend.api import deps", "domain/ (the business rules)"),
        ("backend/domain/audit/repository.py", "from backend.domain.auth import repository", "No cycles"),
        ("backend/main.py", "import devtools.seed", "never imports the dev tooling"),
    ],
    ids=["infrastructure->domain", "infrastructure->api", "domain->api", "cycle-in-domain", "backend->devtools"],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, statement: str, broken: str) -> None:
    """Each contract catches what it is for: the same tree with one import added fails the check."""
    for package in ("backend", "devtools"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / module).write_text((tmp_path / module).read_text() + f"\n{statement}  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout
    assert broken in done.stdout.split("Broken contracts", 1)[-1], done.stdout


def test_identity_imports_nothing_of_the_project() -> None:
    """Every domain package may name roles and actors because identity.py depends on none of them."""
    tree = ast.parse((ROOT / "backend/domain/identity.py").read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += ["." * node.level + (node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    ours = [name for name in imported if name.startswith(".") or name.split(".")[0] in {"backend", "devtools"}]
    assert not ours, ours


MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted((ROOT / "backend").rglob("*.py"))


def test_no_backend_file_passes_500_lines() -> None:
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in _sources()}
    long = {path: lines for path, lines in sizes.items() if lines > MAX_FILE_LINES}
    assert long == {}, "split these by concern (README: How the code is laid out)"


def test_no_backend_function_passes_60_lines() -> None:
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []
