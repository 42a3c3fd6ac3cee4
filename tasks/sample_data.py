"""
Sample users and tasks for development and staging.

The data definitions here (the words titles are made of, the look of a
sample user) are shared by the ``seed_sample_data`` command and the test
factories, so that tests and seeds agree. ``seed()`` writes them: in one
transaction in the system scope, idempotently (the same arguments twice
leave the same users and tasks) and deterministically (the same seed gives
the same titles), and fast enough for a million tasks.

Sample users are ``sample-0001`` ... with ``@example.com`` addresses; only
they are ever changed or removed, never a real user, and only by
``reset``. Without it, seeding only adds what is missing: a task someone
added for a sample user, and any edit of a sample task, stay as they are.

A sample task is recognised without a marker column by its place in time:
task ``k`` of a sample user was created a fixed, per-user and per-``k``
number of whole seconds before the user joined. Nothing else has that
``created_at`` (a task made later through the application is newer than
its owner), and ``created_at`` cannot be edited.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F, Q
from django.utils.crypto import salted_hmac

from ownership.scope import system_scope

from .models import Task

__all__ = [
    "DEFAULT_SEED",
    "MAX_TASKS",
    "MAX_TASKS_PER_USER",
    "MAX_USERS",
    "SeedResult",
    "derived_password",
    "sample_email",
    "sample_username",
    "sample_users",
    "seed",
    "task_title",
    "validate_sizes",
]

VERBS = [
    "Buy",
    "Call",
    "Email",
    "Fix",
    "Book",
    "Clean",
    "Plan",
    "Review",
    "Order",
    "Return",
    "Renew",
    "Pay",
    "Write",
    "Update",
    "Cancel",
    "Pick up",
    "Sort out",
    "Check",
    "Print",
    "Schedule",
]
THINGS = [
    "milk",
    "the plumber",
    "the dentist appointment",
    "the bike tyre",
    "train tickets",
    "the garage",
    "the holiday",
    "the quarterly report",
    "birthday present",
    "library books",
    "passport",
    "electricity bill",
    "thank-you notes",
    "the budget spreadsheet",
    "gym membership",
    "the parcel",
    "car insurance",
    "the team offsite",
    "boarding passes",
    "the window cleaner",
    "oat milk",
    "the landlord",
    "flu jab",
    "the newsletter",
]
WHEN = [
    "",
    "",
    "",
    " today",
    " tomorrow",
    " before Friday",
    " this weekend",
    " next week",
    " by the end of the month",
]
DESCRIPTIONS = [
    "",
    "",
    "",
    "Two litres, semi-skimmed.",
    "Ask about the Saturday slot first.",
    "The reference number is in the last email.",
    "Check the price against last year's.",
    "Keep the receipt.",
    "Needs a signature.",
]
FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dev", "Esme", "Farid", "Grace", "Hugo"]
LAST_NAMES = ["Abbott", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia"]

# A completed share and an age spread that make lists look lived in.
COMPLETED_SHARE = 0.3
MAX_AGE = timedelta(days=90)

DEFAULT_SEED = 20240601
MAX_USERS = 10_000
MAX_TASKS_PER_USER = 10_000
MAX_TASKS = 10_000_000

SAMPLE_PREFIX = "sample-"
SAMPLE_DOMAIN = "example.com"
STAFF_USERNAME = "admin"
STAFF_EMAIL = f"admin@{SAMPLE_DOMAIN}"

# Rows per COPY batch and per bulk_create batch: memory stays bounded
# whatever the total.
CHUNK_ROWS = 100_000
PROGRESS_EVERY = 10_000


def task_title(rng: random.Random) -> str:
    """Return a plausible task title drawn with `rng`."""
    return f"{rng.choice(VERBS)} {rng.choice(THINGS)}{rng.choice(WHEN)}"


def sample_username(number: int) -> str:
    """Return the username of sample user `number` (1-based)."""
    return f"{SAMPLE_PREFIX}{number:04d}"


def sample_email(number: int) -> str:
    return f"{sample_username(number)}@{SAMPLE_DOMAIN}"


def sample_users() -> Q:
    """Match the sample users and no one else: name and address both."""
    return Q(
        username__regex=rf"^{SAMPLE_PREFIX}[0-9]{{4,}}$",
        email__iendswith=f"@{SAMPLE_DOMAIN}",
    )


def derived_password(seed: int) -> str:
    """Return the development default password of the sample users.

    Derived from the secret key and the seed, so it is stable from run to
    run on one installation, differs between installations with their own
    keys, and appears nowhere in the code.
    """
    digest = salted_hmac("todoproject.sample_data.password", str(seed)).hexdigest()
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


def validate_sizes(users: object, tasks_per_user: object) -> None:
    """Raise ``ValueError`` naming the problem when the sizes are unusable."""
    for name, value, maximum in (
        ("--users", users, MAX_USERS),
        ("--tasks-per-user", tasks_per_user, MAX_TASKS_PER_USER),
    ):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        if not 0 <= value <= maximum:
            raise ValueError(f"{name} must be between 0 and {maximum:,}, got {value:,}")
    if users * tasks_per_user > MAX_TASKS:
        raise ValueError(
            f"--users {users:,} x --tasks-per-user {tasks_per_user:,} is "
            f"{users * tasks_per_user:,} tasks; the most is {MAX_TASKS:,}"
        )


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


Progress = Callable[[int, int], None]


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
        if connections[using].vendor == "postgresql":
            written = _copy_tasks(rows, total, using, progress)
        else:
            written = _bulk_create_tasks(rows, total, using, progress)
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
            title = task_title(rng)
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


TASK_COLUMNS = ("title", "description", "completed", "created_at", "updated_at")


def _copy_tasks(rows, total: int, using: str, progress: Progress | None) -> int:
    """Write `rows` with COPY, in chunks, and return how many were written.

    PostgreSQL refuses ``COPY ... FROM`` into a table with row-level
    security, so each chunk is copied into a temporary table, then moved
    with one ``INSERT ... SELECT``, which the system scope's policy admits.
    """
    connection = connections[using]
    qn = connection.ops.quote_name
    meta = Task._meta
    table = qn(meta.db_table)
    columns = [meta.get_field(name).column for name in TASK_COLUMNS]
    columns.append(meta.get_field("owner").column)
    column_list = ", ".join(qn(column) for column in columns)
    stage = qn("todoproject_sample_tasks")
    types = ["text", "text", "boolean", "timestamptz", "timestamptz", "bigint"]
    written = 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} ("
            + ", ".join(f"{qn(c)} {t}" for c, t in zip(columns, types, strict=True))
            + ") ON COMMIT DROP"
        )
        # The owner foreign key is deferred to the commit, which would then
        # check a million rows in one silent stretch after the progress bar
        # says 100 %. Checked per chunk instead: the same checks, reported.
        deferred = _deferred_foreign_keys(cursor, meta.db_table)
        if deferred:
            cursor.execute(f"SET CONSTRAINTS {deferred} IMMEDIATE")
        while True:
            chunk = 0
            # Django's cursor wrapper hands copy() to psycopg's cursor; the
            # error wrapper gives its exceptions Django's classes.
            with (
                connection.wrap_database_errors,
                cursor.copy(
                    f"COPY {stage} ({column_list}) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(types)
                for row in islice(rows, CHUNK_ROWS):
                    copy.write_row(row)
                    chunk += 1
                    if progress and (written + chunk) % PROGRESS_EVERY == 0:
                        progress(written + chunk, total)
            if chunk:
                cursor.execute(
                    f"INSERT INTO {table} ({column_list}) "
                    f"SELECT {column_list} FROM {stage}"
                )
                cursor.execute(f"TRUNCATE {stage}")
                written += chunk
            if chunk < CHUNK_ROWS:
                break
        if deferred:
            cursor.execute(f"SET CONSTRAINTS {deferred} DEFERRED")
        cursor.execute(f"DROP TABLE {stage}")
    if progress:
        progress(written, total)
    return written


def _deferred_foreign_keys(cursor, table: str) -> str:
    """Return the initially deferred foreign keys of `table`, for SQL."""
    cursor.execute(
        "SELECT quote_ident(conname) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype = 'f' AND condeferred",
        [table],
    )
    return ", ".join(name for (name,) in cursor.fetchall())


def _bulk_create_tasks(rows, total: int, using: str, progress: Progress | None) -> int:
    """Write `rows` with ``bulk_create`` in chunks (SQLite)."""
    written = 0
    while True:
        chunk = [
            Task(
                title=title,
                description=description,
                completed=completed,
                created_at=created_at,
                updated_at=updated_at,
                owner_id=owner_id,
            )
            for title, description, completed, created_at, updated_at, owner_id in (
                islice(rows, PROGRESS_EVERY)
            )
        ]
        if not chunk:
            break
        # bulk_create skips auto_now, so updated_at keeps the value above.
        Task.objects.using(using).bulk_create(chunk)
        written += len(chunk)
        if progress:
            progress(written, total)
    return written


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
            username=STAFF_USERNAME, email=STAFF_EMAIL, is_staff=True, is_active=True
        )
        .values_list("password", flat=True)
        .first()
    )
    if account is None:
        return None, False
    return STAFF_USERNAME, password.matches(account)
