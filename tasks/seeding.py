"""
Write the sample users and tasks: idempotent, deterministic, all or nothing.

``seed()`` writes what ``tasks.sample_data`` defines: in one transaction in
the system scope, idempotently (the same arguments twice leave the same
users and tasks) and deterministically (the same seed gives the same
titles), and fast enough for a million tasks (``tasks.bulk_load``).

Only sample users are ever changed or removed, and only by ``reset``.
Without it, seeding only adds what is missing: a task someone added for a
sample user, and any edit of a sample task, stay as they are.

A sample task is recognised without a marker column by its place in time:
task ``k`` of a sample user was created a fixed, per-user and per-``k``
number of whole seconds before the user joined. Nothing else has that
``created_at`` (a task made later through the application is newer than
its owner), and ``created_at`` cannot be edited.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.db import DEFAULT_DB_ALIAS
from django.db.models import F, Q

from ownership.scope import system_scope

from . import sample_data
from .bulk_load import Progress, write_tasks
from .models import Task
from .sample_data import (
    COMPLETED_SHARE,
    DEFAULT_SEED,
    DESCRIPTIONS,
    FIRST_NAMES,
    LAST_NAMES,
    MAX_AGE,
    STAFF_EMAIL,
    STAFF_USERNAME,
    sample_email,
    sample_username,
    sample_users,
    validate_sizes,
)

__all__ = ["SeedResult", "seed"]


@dataclass(frozen=True)
class SeedResult:
    users: int
    users_created: int
    users_removed: int
    tasks: int
    tasks_created: int
    tasks_removed: int
    tasks_kept: int
    staff_created: str | None
    staff_skipped: str | None
    # The staff account seeding made at some time, when it still exists,
    # and whether it still has the sample password.
    staff_existing: str | None
    staff_password_kept: bool
    seconds: float

    @property
    def rows(self) -> int:
        """Return the rows written: new users and tasks."""
        return self.users_created + self.tasks_created


def seed(
    *,
    users: int,
    tasks_per_user: int,
    seed: int = DEFAULT_SEED,
    password: str,
    reset: bool = False,
    using: str = DEFAULT_DB_ALIAS,
    progress: Progress | None = None,
) -> SeedResult:
    """Make sample users 1..`users` have `tasks_per_user` sample tasks each.

    Only what is missing is written: a sample task that exists, edited or
    not, and every task not made here, are left alone, so a second run
    with the same arguments writes nothing. `reset` first removes every
    sample user (and with them all their tasks), including any beyond
    `users` from an earlier, larger run; it is the one way to start over,
    or to get another `seed`'s titles. A staff account is made when there
    is none. `progress(done, total)` hears how many tasks are written. All
    in one transaction: an error leaves nothing behind.
    """
    validate_sizes(users, tasks_per_user)
    started = time.perf_counter()
    User = get_user_model()
    hashed = _Password(password)
    with system_scope(using=using):
        removed: dict[str, int] = {}
        if reset:
            _, removed = User.objects.using(using).filter(sample_users()).delete()
        owners, users_created = _ensure_users(User, users, hashed, using)
        sample_tasks = Task.objects.using(using).filter(owner_id__in=list(owners))
        kept = sample_tasks.count()
        # A sample task was created before its owner joined; a task added
        # through the application later cannot be.
        existing = set(
            sample_tasks.filter(created_at__lt=F("owner__date_joined")).values_list(
                "owner_id", "created_at"
            )
        )
        rows = _task_rows(owners, tasks_per_user, seed, existing)
        total = len(owners) * tasks_per_user - len(existing)
        written = write_tasks(rows, total, using, progress)
        staff_created, staff_skipped = _ensure_staff(User, hashed, using)
        staff_existing, staff_password_kept = _seeded_staff(User, hashed, using)
    return SeedResult(
        users=len(owners),
        users_created=users_created,
        users_removed=removed.get(User._meta.label, 0),
        tasks=len(owners) * tasks_per_user,
        tasks_created=written,
        tasks_removed=removed.get(Task._meta.label, 0),
        tasks_kept=kept,
        staff_created=staff_created,
        staff_skipped=staff_skipped,
        staff_existing=staff_existing if not staff_created else None,
        staff_password_kept=staff_password_kept,
        seconds=time.perf_counter() - started,
    )


class _Password:
    """The sample password, hashed once and only when needed.

    Every sample user gets the same hash: hashing a thousand times would
    take minutes with PBKDF2, for accounts that share a password anyway.
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._hash: str | None = None

    @property
    def hash(self) -> str:
        if self._hash is None:
            self._hash = make_password(self.raw)
        return self._hash

    def matches(self, encoded: str) -> bool:
        return check_password(self.raw, encoded)


def _ensure_users(User, count: int, password: _Password, using: str):
    """Make sample users 1..`count` exist with `password`.

    Return {id: date joined} in the users' order, and how many were new.
    """
    wanted = {sample_username(number): number for number in range(1, count + 1)}
    existing = {
        username: (pk, encoded)
        for username, pk, encoded in User.objects.using(using)
        .filter(sample_users())
        .values_list("username", "pk", "password")
        if username in wanted
    }
    # Users of an earlier run keep their rows unless the password changed.
    stale = [
        pk
        for encoded, pks in _group_by_hash(existing.values()).items()
        if not password.matches(encoded)
        for pk in pks
    ]
    if stale:
        User.objects.using(using).filter(pk__in=stale).update(password=password.hash)
    new = [
        User(
            username=username,
            email=sample_email(number),
            first_name=FIRST_NAMES[number % len(FIRST_NAMES)],
            last_name=LAST_NAMES[number % len(LAST_NAMES)],
            password=password.hash,
        )
        for username, number in wanted.items()
        if username not in existing
    ]
    User.objects.using(using).bulk_create(new, batch_size=1000)
    joined = {
        username: (pk, date_joined)
        for username, pk, date_joined in User.objects.using(using)
        .filter(sample_users())
        .values_list("username", "pk", "date_joined")
    }
    return dict(joined[username] for username in wanted), len(new)


def _group_by_hash(users) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for pk, encoded in users:
        groups.setdefault(encoded, []).append(pk)
    return groups


def _task_rows(
    owners: dict[int, datetime],
    tasks_per_user: int,
    seed: int,
    existing: set[tuple[int, datetime]],
) -> Iterator[tuple]:
    """Yield (title, description, completed, created_at, updated_at, owner_id).

    Each user's tasks come from a generator seeded by `seed` and the user's
    number alone, so they do not depend on how many users are seeded. The
    ages come from a generator of their own, without `seed`, so that task
    ``k`` of a user has the same ``created_at`` whatever the seed: the
    tasks in `existing` (owner id, created at) are skipped.
    """
    for number, (owner_id, joined) in enumerate(owners.items(), start=1):
        rng = random.Random(f"todoproject-sample:{seed}:{number}")
        for age in islice(_ages(number), tasks_per_user):
            # Looked up on its module at each call, so that a test can
            # replace it (one blank title breaks a constraint mid-seed).
            title = sample_data.task_title(rng)
            description = rng.choice(DESCRIPTIONS)
            completed = rng.random() < COMPLETED_SHARE
            created_at = joined - timedelta(seconds=age)
            if (owner_id, created_at) not in existing:
                yield title, description, completed, created_at, created_at, owner_id


def _ages(number: int) -> Iterator[int]:
    """Yield distinct ages in whole seconds, 1 to `MAX_AGE`, for user `number`.

    The first ``k`` are the same however many are taken, so a larger
    ``--tasks-per-user`` adds tasks and keeps the earlier ones.
    """
    rng = random.Random(f"todoproject-sample-age:{number}")
    seen: set[int] = set()
    max_age = int(MAX_AGE.total_seconds())
    while True:
        age = rng.randint(1, max_age)
        if age not in seen:
            seen.add(age)
            yield age


def _ensure_staff(User, password: _Password, using: str):
    """Make a staff account when there is none.

    Return (username created, or None; why none was made, or None).
    """
    users = User.objects.using(using)
    if users.filter(is_staff=True, is_active=True).exists():
        return None, None
    if users.filter(
        Q(username__iexact=STAFF_USERNAME) | Q(email__iexact=STAFF_EMAIL)
    ).exists():
        return None, (
            f"no staff account exists and the username {STAFF_USERNAME} or the "
            f"address {STAFF_EMAIL} is taken; create one with "
            "manage.py createsuperuser"
        )
    users.create(
        username=STAFF_USERNAME,
        email=STAFF_EMAIL,
        password=password.hash,
        is_staff=True,
        is_superuser=True,
    )
    return STAFF_USERNAME, None


def _seeded_staff(User, password: _Password, using: str):
    """Return (the staff account's username, or None; has the password)."""
    account = (
        User.objects.using(using)
        .filter(
            username=STAFF_USERNAME,
            email=STAFF_EMAIL,
            is_staff=True,
            is_active=True,
        )
        .values_list("password", flat=True)
        .first()
    )
    if account is None:
        return None, False
    return STAFF_USERNAME, password.matches(account)
