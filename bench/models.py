"""The table of tasks as a Django developer with no guarantee would model it.

``PlainTask`` reads and writes ``tasks_task`` with Django's own ``Model``,
default ``Manager`` and ``QuerySet``: none of the project's mixin
(ownership/instances.py), bound querysets (tasks/managers.py), scope checks
or replica routing. The bench's plain Django side and the Django SET/RESET
peer use it, so that they pay none of the costs the services are measured
for. Unmanaged: the project's migrations own the table.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class PlainTask(models.Model):
    """One row of ``tasks_task``, as plain Django sees it."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    completed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # DO_NOTHING and no constraint of its own: deleting a user must not
    # collect these rows as well as the project's Task (delete_user is timed).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )

    class Meta:
        app_label = "bench"
        managed = False
        db_table = "tasks_task"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title
