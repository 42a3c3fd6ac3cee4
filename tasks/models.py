from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ownership.instances import ScopedModel
from ownership.policies import Owned

from .managers import TaskManager
from .validators import VISIBLE_CHARACTER, validate_no_surrogates, validate_not_blank

TITLE_MAX_LENGTH = 200
# A long note, not a document: about four pages of text, at most 40 kB in
# UTF-8, so one request cannot store megabytes (a 50 MB description took
# two seconds to insert and every read of it as long again).
DESCRIPTION_MAX_LENGTH = 10_000


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
        validators=[
            validate_not_blank,
            ProhibitNullCharactersValidator(),
            validate_no_surrogates,
        ],
    )
    description = models.TextField(
        _("description"),
        blank=True,
        default="",
        # max_length also limits the admin's form; the validator, the model.
        max_length=DESCRIPTION_MAX_LENGTH,
        validators=[
            ProhibitNullCharactersValidator(),
            validate_no_surrogates,
            MaxLengthValidator(DESCRIPTION_MAX_LENGTH),
        ],
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
                condition=Q(title__regex=VISIBLE_CHARACTER),
                name="task_title_not_blank",
                violation_error_message=_("The title cannot be blank."),
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(
                    Length("description"), DESCRIPTION_MAX_LENGTH
                ),
                name="task_description_max_length",
                violation_error_message=_("The description is too long."),
            ),
        ]

    def __str__(self) -> str:
        return self.title


# Each task belongs to its owner: ownership renders the table's row-level
# security policies and the staff function from this (ownership/policies.py).
# What the migrations installed is text held in them; a change here that
# changes the rendered SQL needs a new migration (tests/ownership/
# test_policies.py holds the rendered SQL to what migrate installed).
OWNED = Owned(Task, owner_field="owner")
