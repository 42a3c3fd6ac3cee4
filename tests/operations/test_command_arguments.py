"""Every command's --database accepts the configured aliases and no other."""

import pytest

from tests.utils import manage_py

COMMANDS = [
    ["healthcheck"],
    ["backup"],
    ["restore", "some.dump"],
    ["seed_sample_data"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
def test_an_unknown_database_alias_is_a_usage_error_naming_the_aliases(command):
    result = manage_py(
        *command,
        "--database",
        "nope",
        DATABASE_URL="sqlite://:memory:",
        DATABASE_REPLICA_URLS="",
        DJANGO_DEBUG="true",
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"manage.py {command[0]}: error: argument --database: invalid choice: "
        "'nope' (choose from 'default')"
    )
