from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from accounts.models import User


class TaskQuerySet(models.QuerySet):
    """Chainable filters for tasks; building a query never touches the database."""

    def for_owner(self, owner: User) -> TaskQuerySet:
        """Return the tasks of `owner`."""
        return self.filter(owner_id=owner.pk)

    def open(self) -> TaskQuerySet:
        """Return the tasks that are not completed."""
        return self.filter(completed=False)

    def done(self) -> TaskQuerySet:
        """Return the completed tasks."""
        return self.filter(completed=True)

    def newest_first(self) -> TaskQuerySet:
        """Order newest first; the id breaks ties so pages are stable."""
        return self.order_by("-created_at", "-id")


TaskManager = models.Manager.from_queryset(TaskQuerySet)
