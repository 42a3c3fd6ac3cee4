"""The project uses only Django's and psycopg's public API."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "accounts",
    "bench",
    "embedded_pg",
    "operations",
    "ownership",
    "replicas",
    "tasks",
    "todoproject",
    "tests",
    "scripts",
]

# Internals that earlier code leaned on, and that change without notice.
PRIVATE = re.compile(
    r"\b_defer_next_filter\b|\b_deferred_filter\b|\b_cmodule\b|\._query\b"
    r"|\._connections\b|\b_result_cache\b|\b_prefetch_related_lookups\b"
    r"|\b_iterable_class\b|\b_create_user\b|\bpsycopg\._\w+"
    r"|\bdjango(\.\w+)*\._\w+"
    # Django's connection internals: scope state lives in ContextVars, the
    # rollback flag comes from transaction.get_rollback(), and the execute
    # wrapper is installed through connection.execute_wrapper() only.
    r"|\b_todoproject_scopes\b|\batomic_blocks\b|\bneeds_rollback\b"
    r"|\bexecute_wrappers\b|\bsavepoint_ids\b|\brun_on_commit\b"
)


def test_no_private_django_or_psycopg_api_is_used():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != Path(__file__)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    ]

    assert found == []
