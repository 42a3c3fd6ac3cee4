"""
Sample users and tasks for development and staging: what they look like.

The data definitions here (the words titles are made of, the look of a
sample user, the sizes a seed may have, the sample password) are shared by
the ``seed_sample_data`` command, the landing page and the test factories,
so that tests and seeds agree. ``tasks.seeding`` writes them.

Sample users are ``sample-0001`` ... with ``@example.com`` addresses; only
they are ever changed or removed, never a real user.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.db.models import Q
from django.utils.crypto import salted_hmac

__all__ = [
    "DEFAULT_SEED",
    "MAX_TASKS",
    "MAX_TASKS_PER_USER",
    "MAX_USERS",
    "derived_password",
    "sample_email",
    "sample_username",
    "sample_users",
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
