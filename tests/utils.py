"""Read what is really stored, past the services and row-level security."""

from tasks.models import Task
from tasks.rls import system_scope


def stored_tasks(**filters) -> list[Task]:
    """Return every stored task matching `filters`, oldest first."""
    with system_scope():
        return list(Task.objects.filter(**filters).order_by("id"))


def stored_task(pk: int) -> Task:
    """Return the stored task `pk`."""
    with system_scope():
        return Task.objects.get(pk=pk)


def stored_row(pk: int) -> dict:
    """Return every column of the stored task `pk`."""
    with system_scope():
        return Task.objects.filter(pk=pk).values().get()
