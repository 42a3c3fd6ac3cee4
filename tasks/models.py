from __future__ import annotations

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ownership.instances import ScopedModel

from .managers import TaskManager
from .validators import validate_not_blank

TITLE_MAX_LENGTH = 200


class Task(ScopedModel, models.Model):
    """One thing to do, owned by exactly one user.

    An instance writes, reloads and deletes in the scope it was loaded in,
    and raises ``Task.DoesNotExist`` (``NotVisible``) naming itself and the
    scope in force when that shows it no row (ownership/instances.py).
    """

    title = models.CharField(
        _("title"),
        max_length=TITLE_MAX_LENGTH,
        # PostgreSQL refuses NUL in text: a validation error, not a DataError.
        validators=[validate_not_blank, ProhibitNullCharactersValidator()],
    )
    description = models.TextField(
        _("description"),
        blank=True,
        default="",
        validators=[ProhibitNullCharactersValidator()],
    )
    completed = models.BooleanField(_("completed"), default=False)
    created_at = models.DateTimeField(
        _("created at"), default=timezone.now, editable=False
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="tasks",
        verbose_name=_("owner"),
        # Both composite indexes below start with owner_id, so the usual
        # single-column foreign key index would only cost writes.
        db_index=False,
    )

    objects = TaskManager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["-created_at", "-id"]
        indexes = [
            # "A user's open (or done) tasks, newest first": an index scan
            # that stops after the first page, no sort.
            models.Index(
                fields=["owner", "completed", "-created_at", "-id"],
                name="task_owner_done_created_idx",
            ),
            # "All of a user's tasks, newest first" and the foreign key's
            # lookups (cascade deletes, per-user counts).
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="task_owner_created_idx",
            ),
            # The admin's list of everyone's tasks, newest first, and its
            # date filters: the first page without reading and sorting the
            # table. (Timestamp comparisons are leakproof, so they stay index
            # conditions under row-level security.)
            models.Index(fields=["-created_at", "-id"], name="task_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(title__regex=r"\S"),
                name="task_title_not_blank",
                violation_error_message=_("The title cannot be blank."),
            ),
        ]

    def __str__(self) -> str:
        return self.title
