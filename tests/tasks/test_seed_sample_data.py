"""manage.py seed_sample_data: idempotent, deterministic, guarded, all or nothing."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError, OutputWrapper

from ownership.scope import system_scope
from tasks import sample_data
from tasks.management.commands.seed_sample_data import Progress
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory

User = get_user_model()

# Seeding is work no single user triggers: the owner runs it.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def owner(request):
    if "django_db" in [m.name for m in request.node.iter_markers()] and (
        request.node.get_closest_marker("django_db").args[:1] != (False,)
    ):
        request.getfixturevalue("as_owner")


@pytest.fixture(autouse=True)
def debug(settings):
    # The production guard refuses to seed with DEBUG off, as tests run.
    settings.DEBUG = True
    settings.SAMPLE_USER_PASSWORD = ""


def seed(*args, **options):
    """Run the command; return (exit code, stdout, message or stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("seed_sample_data", *args, stdout=out, stderr=err, **options)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


def stored():
    """Return every sample user and task as comparable values."""
    with system_scope():
        users = list(
            User.objects.filter(sample_data.sample_users())
            .order_by("username")
            .values_list("username", "email", "first_name", "last_name")
        )
        tasks = sorted(
            Task.objects.filter(
                owner__in=User.objects.filter(sample_data.sample_users())
            ).values_list("owner__username", "title", "description", "completed")
        )
    return users, tasks


def counts():
    with system_scope():
        return User.objects.count(), Task.objects.count()


def test_seeds_users_tasks_and_a_staff_account():
    code, out, _ = seed("--users", "3", "--tasks-per-user", "4")

    password = sample_data.derived_password(sample_data.DEFAULT_SEED)
    users, tasks = stored()
    assert code == 0
    assert [user[:2] for user in users] == [
        ("sample-0001", "sample-0001@example.com"),
        ("sample-0002", "sample-0002@example.com"),
        ("sample-0003", "sample-0003@example.com"),
    ]
    assert len(tasks) == 12
    summary, login, staff = out.splitlines()
    assert re.fullmatch(
        r"Seeded 3 sample users \(3 new\) and 12 sample tasks \(12 new\) in "
        r"\d+\.\d\d s "
        r"\([\d,]+ rows/s\)\.",
        summary,
    )
    assert login == (
        "Sample users sample-0001 to sample-0003 (@example.com) log in with "
        f"the password {password}."
    )
    assert staff == (
        "Created the staff account admin: log in to the admin at /admin/ as "
        f"admin with the password {password}."
    )
    assert authenticate(username="sample-0002", password=password)
    admin = authenticate(username="admin", password=password)
    assert admin.is_staff
    assert admin.is_superuser


def test_seeding_twice_leaves_the_same_rows():
    seed("--users", "3", "--tasks-per-user", "5")
    first, first_counts = stored(), counts()

    code, out, _ = seed("--users", "3", "--tasks-per-user", "5")

    assert code == 0
    assert stored() == first
    assert counts() == first_counts
    assert out.startswith(
        "Seeded 3 sample users (0 new) and 15 sample tasks (0 new) in "
    )
    password = sample_data.derived_password(sample_data.DEFAULT_SEED)
    assert out.splitlines()[-1] == (
        "Staff account: log in to the admin at /admin/ as admin with the "
        f"password {password}."
    )


def test_a_changed_staff_password_is_not_printed():
    seed("--users", "0")
    with system_scope():
        admin = User.objects.get(username="admin")
    admin.set_password("chosen by the newcomer")
    admin.save()

    _, out, _ = seed("--users", "0")

    assert out.splitlines()[-1] == (
        "Staff account: log in to the admin at /admin/ as admin with the password "
        "set for it (manage.py changepassword admin sets another)."
    )


def test_same_seed_gives_the_same_titles_after_reset():
    seed("--users", "2", "--tasks-per-user", "6", "--seed", "7")
    first = stored()
    with system_scope():
        first_ids = set(
            User.objects.filter(sample_data.sample_users()).values_list("pk")
        )

    code, out, _ = seed(
        "--users", "2", "--tasks-per-user", "6", "--seed", "7", "--reset"
    )

    assert code == 0
    assert out.splitlines()[0] == "Removed 2 sample users and their tasks."
    assert stored() == first
    with system_scope():
        ids = set(User.objects.filter(sample_data.sample_users()).values_list("pk"))
    assert ids.isdisjoint(first_ids)


def test_another_seed_gives_other_titles_after_reset():
    seed("--users", "1", "--tasks-per-user", "10", "--seed", "1")
    first_titles = [task[1] for task in stored()[1]]

    seed("--users", "1", "--tasks-per-user", "10", "--seed", "2", "--reset")

    assert [task[1] for task in stored()[1]] != first_titles


def test_another_seed_without_reset_leaves_the_sample_tasks_alone():
    seed("--users", "1", "--tasks-per-user", "10", "--seed", "1")
    first = stored()

    code, out, _ = seed("--users", "1", "--tasks-per-user", "10", "--seed", "2")

    assert code == 0
    assert stored() == first
    assert "10 sample tasks (0 new)" in out


def sample_tasks():
    with system_scope():
        return dict(
            Task.objects.filter(owner__username__startswith="sample-").values_list(
                "pk", "title"
            )
        )


def test_added_and_edited_tasks_survive_three_seedings():
    seed("--users", "2", "--tasks-per-user", "5")
    with system_scope():
        sample = User.objects.get(username="sample-0001")
        edited = Task.objects.filter(owner=sample).order_by("pk").first()
    edited.title = "Edited by a newcomer"
    edited.completed = not edited.completed
    with system_scope():
        edited.save()
        added = Task.objects.create(owner=sample, title="Added by a newcomer")
    before = sample_tasks()

    for _ in range(3):
        assert seed("--users", "2", "--tasks-per-user", "5")[0] == 0

    assert sample_tasks() == before
    with system_scope():
        assert Task.objects.get(pk=edited.pk).completed == edited.completed
        assert Task.objects.get(pk=added.pk).title == "Added by a newcomer"
    assert len(before) == 11


def test_a_deleted_sample_task_comes_back_and_others_keep_their_ids():
    seed("--users", "1", "--tasks-per-user", "4")
    before = sample_tasks()
    gone = min(before)
    with system_scope():
        Task.objects.filter(pk=gone).delete()

    seed("--users", "1", "--tasks-per-user", "4")

    after = sample_tasks()
    assert len(after) == 4
    assert {pk: title for pk, title in before.items() if pk != gone}.items() <= (
        after.items()
    )
    assert before[gone] in after.values()


def test_more_tasks_per_user_adds_and_keeps_the_earlier_ones():
    seed("--users", "2", "--tasks-per-user", "3")
    before = sample_tasks()

    code, out, _ = seed("--users", "2", "--tasks-per-user", "5")

    after = sample_tasks()
    assert code == 0
    assert "10 sample tasks (4 new)" in out
    assert before.items() <= after.items()
    assert len(after) == 10


def test_the_same_seed_gives_the_same_tasks_however_they_arrive():
    seed("--users", "1", "--tasks-per-user", "3")
    seed("--users", "1", "--tasks-per-user", "6")
    stepwise = stored()

    seed("--users", "1", "--tasks-per-user", "6", "--reset")

    assert stored() == stepwise


def test_reset_removes_only_sample_users():
    real = UserFactory(username="alice", email="alice@example.com")
    lookalike = UserFactory(username="sample-0009", email="sample@company.test")
    TaskFactory(owner=real, title="Real work")
    seed("--users", "3", "--tasks-per-user", "2")

    seed("--users", "1", "--tasks-per-user", "2", "--reset")

    with system_scope():
        assert User.objects.filter(pk__in=[real.pk, lookalike.pk]).count() == 2
        assert list(Task.objects.filter(owner=real).values_list("title")) == [
            ("Real work",)
        ]
    assert [user[0] for user in stored()[0]] == ["sample-0001"]


def test_without_reset_a_smaller_run_keeps_the_other_sample_users():
    seed("--users", "3", "--tasks-per-user", "2")

    seed("--users", "1", "--tasks-per-user", "2")

    users, tasks = stored()
    assert len(users) == 3
    assert len(tasks) == 6


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (["--users", "-1"], {}, "--users must be between 0 and 10,000, got -1"),
        (
            ["--tasks-per-user", "-5"],
            {},
            "--tasks-per-user must be between 0 and 10,000, got -5",
        ),
        (["--users", "10001"], {}, "--users must be between 0 and 10,000, got 10,001"),
        (
            ["--users", "5000", "--tasks-per-user", "5000"],
            {},
            "--users 5,000 x --tasks-per-user 5,000 is 25,000,000 tasks; "
            "the most is 10,000,000",
        ),
        ([], {"users": "many"}, "--users must be a whole number, got 'many'"),
        (
            [],
            {"tasks_per_user": 2.5},
            "--tasks-per-user must be a whole number, got 2.5",
        ),
        ([], {"seed": "x"}, "--seed must be a whole number, got 'x'"),
        ([], {"password": ""}, "--password must not be empty"),
        ([], {"database": "nope"}, "unknown database alias 'nope'"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(args, options, message):
    UserFactory()
    before = counts()

    code, out, error = seed(*args, **options)

    assert (code, error, out) == (2, message, "")
    assert counts() == before


def test_non_integer_on_the_command_line_is_refused_and_writes_nothing():
    before = counts()

    code, _, error = seed("--users", "abc")

    assert code != 0
    assert error == "Error: argument --users: invalid int value: 'abc'"
    assert counts() == before


def test_production_guard_refuses_without_the_flag(settings):
    settings.DEBUG = False
    before = counts()

    code, out, error = seed()

    assert (code, out) == (3, "")
    assert error == (
        "refusing to seed: DEBUG is off, so this may be production; "
        "pass --allow-production to seed anyway"
    )
    assert counts() == before


def test_production_guard_lets_the_flag_through(settings):
    settings.DEBUG = False
    settings.SAMPLE_USER_PASSWORD = "a-password-chosen-by-the-operator"

    code, _, _ = seed("--users", "1", "--tasks-per-user", "1", "--allow-production")

    assert code == 0
    assert len(stored()[1]) == 1


def test_production_seeding_needs_a_password_it_will_not_print(settings):
    settings.DEBUG = False
    settings.SAMPLE_USER_PASSWORD = ""
    before = counts()

    code, out, error = seed("--users", "1", "--allow-production")

    assert (code, out) == (2, "")
    assert error == (
        "with DEBUG off, give the sample users' password with --password "
        "or SAMPLE_USER_PASSWORD"
    )
    assert counts() == before


def test_error_halfway_leaves_nothing_behind(monkeypatch):
    before = counts()
    titles = iter(["Buy milk"] * 5 + ["   "])  # the sixth breaks a CHECK
    monkeypatch.setattr(sample_data, "task_title", lambda rng: next(titles))

    code, out, error = seed("--users", "2", "--tasks-per-user", "3")

    assert code == 1
    assert error.startswith("seeding failed, nothing was written: ")
    assert "task_title_not_blank" in error
    assert "Seeded" not in out
    assert counts() == before


def test_password_option_sets_the_sample_password():
    code, out, _ = seed("--users", "1", "--tasks-per-user", "0", "--password", "pw-1")

    assert code == 0
    assert "log in with the password given by --password." in out
    assert "pw-1" not in out
    assert authenticate(username="sample-0001", password="pw-1")


def test_password_from_the_environment(settings):
    settings.SAMPLE_USER_PASSWORD = "from-env"

    _, out, _ = seed("--users", "1", "--tasks-per-user", "0")

    assert "log in with the password in SAMPLE_USER_PASSWORD." in out
    assert authenticate(username="sample-0001", password="from-env")


def test_changed_password_updates_existing_sample_users():
    seed("--users", "2", "--tasks-per-user", "0", "--password", "old")

    seed("--users", "2", "--tasks-per-user", "0", "--password", "new")

    assert authenticate(username="sample-0002", password="new")
    assert authenticate(username="sample-0002", password="old") is None


def test_no_staff_account_when_one_exists():
    UserFactory(username="boss", is_staff=True)

    _, out, _ = seed("--users", "1", "--tasks-per-user", "0")

    assert "Created the staff account" not in out
    assert out.splitlines()[-1] == (
        "Staff account: log in to the admin at /admin/ with yours "
        "(manage.py createsuperuser makes another)."
    )
    assert not User.objects.filter(username="admin").exists()


def test_verbosity_two_says_how_many_tasks_were_left_alone():
    seed("--users", "2", "--tasks-per-user", "3")

    _, out, _ = seed("--users", "2", "--tasks-per-user", "3", verbosity=2)

    assert out.splitlines()[0] == "Left alone 6 existing tasks of the sample users."


def test_verbosity_zero_prints_nothing():
    assert seed("--users", "1", "--tasks-per-user", "1", verbosity=0) == (0, "", "")


def test_help_documents_the_exit_codes():
    command = load_command_class("tasks", "seed_sample_data")
    text = " ".join(command.create_parser("manage.py", "seed").format_help().split())

    for documented in (
        "0 seeded",
        "1 the database failed",
        "2 bad arguments",
        "3 refused",
    ):
        assert documented in text


class FakeTerminal(StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.mark.django_db(False)
def test_progress_off_a_terminal_is_a_line_every_few_seconds():
    out, clock = StringIO(), Clock()
    progress = Progress(OutputWrapper(out), clock=clock)

    for done in range(0, 100_001, 10_000):
        clock.now = done / 10_000 * 2  # 20 seconds in all
        progress(done, 100_000)
    progress.close()

    assert out.getvalue().splitlines() == [
        "tasks: 30,000 of 100,000 (30%) after 6.0 s",
        "tasks: 60,000 of 100,000 (60%) after 12.0 s",
        "tasks: 90,000 of 100,000 (90%) after 18.0 s",
    ]


@pytest.mark.django_db(False)
def test_progress_on_a_terminal_is_a_bar_redrawn_in_place():
    out, clock = FakeTerminal(), Clock()
    progress = Progress(OutputWrapper(out), clock=clock)

    clock.now = 1.0
    progress(50, 100)
    clock.now = 2.0
    progress(100, 100)
    progress.close()

    assert out.getvalue() == (
        "\rtasks [###############...............]  50% 50/100 1.0 s"
        "\rtasks [##############################] 100% 100/100 2.0 s\n"
    )


def test_factories_draw_titles_from_the_sample_words():
    title = TaskFactory.build().title

    assert title.split()[0] in {verb.split()[0] for verb in sample_data.VERBS}
