"""The bench's plain Django side carries none of the project's machinery."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.utils import ROOT

# Run in a process of its own: bench.settings adds the app "bench" and two
# aliases, which the test suite's settings must not see.
PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.db import models
from bench.models import PlainTask
from ownership.instances import ScopedModel
from tasks.managers import TaskQuerySet
print(json.dumps({
    "scoped": issubclass(PlainTask, ScopedModel),
    "manager": type(PlainTask.objects).__name__,
    "queryset": type(PlainTask.objects.all()).__name__,
    "bound_queryset": isinstance(PlainTask.objects.all(), TaskQuerySet),
    "table": PlainTask._meta.db_table,
    "managed": PlainTask._meta.managed,
    "engines": {a: settings.DATABASES[a]["ENGINE"] for a in ("plain", "peer")},
    "default_engine": settings.DATABASES["default"]["ENGINE"],
}))
"""


def probe() -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_ENV_FILE": "",
        "DJANGO_SECRET_KEY": "bench-test",
        "DATABASE_URL": "postgres://runtime@127.0.0.1:1/bench",
        "BENCH_PLAIN_DATABASE_URL": "postgres://postgres@127.0.0.1:1/bench",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plain_side_is_a_plain_model_on_djangos_own_backend():
    found = probe()

    assert found["scoped"] is False
    assert found["manager"] == "Manager"
    assert found["queryset"] == "QuerySet"
    assert found["bound_queryset"] is False
    assert (found["table"], found["managed"]) == ("tasks_task", False)
    assert found["engines"] == {
        "plain": "django.db.backends.postgresql",
        "peer": "django.db.backends.postgresql",
    }
    assert found["default_engine"] == "ownership.backends.postgresql"
