"""Imports only go down the layers, and production code needs no dev tool.

The layers, top to bottom: configuration (todoproject, manage.py), then
operations and tasks, then accounts, then ownership and replicas. An app may
import from its own layer or below. embedded_pg, bench, scripts and tests
serve development and the test suite; production code imports none of them.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The higher the number, the higher the layer.
LAYERS = {
    "todoproject": 3,
    "manage": 3,
    "operations": 2,
    "tasks": 2,
    "accounts": 1,
    "ownership": 0,
    "replicas": 0,
}
DEVELOPMENT_ONLY = {"embedded_pg", "bench", "scripts", "tests"}

# (module path, imported module) -> why the import is allowed for now. An
# entry that no longer matches an import fails the test: delete it then.
EXCEPTIONS: dict[tuple[str, str], str] = {
    # (module, imported): why it may run up a layer. None today.
}


def production_modules() -> list[Path]:
    """Return every module of the production packages, and manage.py."""
    paths = [ROOT / "manage.py"]
    for package in LAYERS:
        if (ROOT / package).is_dir():
            paths.extend(sorted((ROOT / package).rglob("*.py")))
    return paths


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Return (line, module) for each absolute import in `source`.

    Relative imports are left out: they cannot leave their own package.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def layer_violations(path: str, source: str) -> list[tuple[str, int, str, str]]:
    """Return (path, line, module, why) for each import in `source` that is wrong.

    `path` is the module's path relative to the repository root.
    """
    layer = LAYERS[Path(path).parts[0].removesuffix(".py")]
    violations = []
    for line, module in imported_modules(source):
        top = module.partition(".")[0]
        if top in DEVELOPMENT_ONLY:
            violations.append((path, line, module, "development only"))
        elif LAYERS.get(top, -1) > layer:
            violations.append((path, line, module, "runs up a layer"))
    return violations


def test_production_imports_only_go_down_and_never_reach_development_tools():
    violations = [
        violation
        for module in production_modules()
        for violation in layer_violations(
            module.relative_to(ROOT).as_posix(), module.read_text()
        )
    ]

    unexcused = [
        f"{path}:{line}: imports {module} ({why})"
        for path, line, module, why in violations
        if (path, module) not in EXCEPTIONS
    ]
    stale = sorted(
        set(EXCEPTIONS) - {(path, module) for path, _, module, _ in violations}
    )
    assert unexcused == []
    assert stale == [], "these exceptions excuse no import any more: delete them"


@pytest.mark.parametrize(
    ("path", "source", "why"),
    [
        ("accounts/admin.py", "from tasks.models import Task", "runs up a layer"),
        ("ownership/scope.py", "import accounts.models", "runs up a layer"),
        ("tasks/admin.py", "def f():\n    import todoproject.urls", "runs up a layer"),
        ("operations/views.py", "from embedded_pg import binaries", "development only"),
        ("todoproject/settings.py", "import scripts.database_url", "development only"),
        ("manage.py", "from bench import setup", "development only"),
    ],
)
def test_an_import_up_a_layer_or_of_a_development_tool_is_found(path, source, why):
    assert [v[3] for v in layer_violations(path, source)] == [why]


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("tasks/admin.py", "from accounts.admin import UserAdmin"),
        ("operations/integrity.py", "from tasks import search"),
        ("tasks/managers.py", "from replicas.router import note_write"),
        ("ownership/drf.py", "from .scope import ScopeConflict"),
        ("replicas/router.py", "from django.db import connections"),
    ],
)
def test_an_import_down_or_across_a_layer_is_allowed(path, source):
    assert layer_violations(path, source) == []
