import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from tasks import sample_data, seeding

EXIT_CODES = (
    "Exit codes: 0 seeded; 1 the database failed (nothing written); 2 bad "
    "arguments (nothing written); 3 refused because DEBUG is off and "
    "--allow-production was not given."
)


class Command(BaseCommand):
    help = (
        "Write sample users (sample-0001@example.com, ...) with tasks, for "
        "development and staging, and a staff account for the admin when "
        "there is none. Only what is missing is written: tasks added for a "
        "sample user and edits of sample tasks are left alone (--reset starts "
        "over), so the same arguments twice leave the same rows; the same "
        "--seed gives the same titles. Everything is written in one "
        f"transaction. {EXIT_CODES}"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--users",
            type=int,
            default=5,
            metavar="N",
            help=f"Number of sample users, 0 to {sample_data.MAX_USERS:,}. Default: 5.",
        )
        parser.add_argument(
            "--tasks-per-user",
            type=int,
            default=20,
            metavar="M",
            help=f"Tasks of each sample user, 0 to "
            f"{sample_data.MAX_TASKS_PER_USER:,}; at most "
            f"{sample_data.MAX_TASKS:,} tasks in all. Default: 20.",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=sample_data.DEFAULT_SEED,
            metavar="S",
            help="Seed of the titles and other values; the same seed gives the "
            f"same data. Default: {sample_data.DEFAULT_SEED}.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="First remove every sample user and all their tasks, edited "
            "or added ones too (only sample-NNNN@example.com accounts, never "
            "anyone else); the one way to start over or to change --seed.",
        )
        parser.add_argument(
            "--password",
            help="Password of the sample users and of a new staff account. "
            "Default: SAMPLE_USER_PASSWORD from the environment, else one "
            "derived from the secret key and the seed, printed at the end.",
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even though DEBUG is off.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            metavar="ALIAS",
            choices=tuple(connections),
            help='The database alias to seed. Default: "default".',
        )

    def handle(self, *args, **options):
        users, per_user = options["users"], options["tasks_per_user"]
        try:
            sample_data.validate_sizes(users, per_user)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        seed = options["seed"]
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise CommandError(
                f"--seed must be a whole number, got {seed!r}", returncode=2
            )
        if options["database"] not in connections.settings:
            raise CommandError(
                f"unknown database alias {options['database']!r}", returncode=2
            )
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError(
                "refusing to seed: DEBUG is off, so this may be production; "
                "pass --allow-production to seed anyway",
                returncode=3,
            )
        password, told = self.password(options, seed)

        verbosity = options["verbosity"]
        progress = Progress(self.stdout) if verbosity >= 1 else None
        try:
            result = seeding.seed(
                users=users,
                tasks_per_user=per_user,
                seed=seed,
                password=password,
                reset=options["reset"],
                using=options["database"],
                progress=progress,
            )
        except DatabaseError as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CommandError(
                f"seeding failed, nothing was written: {reason}", returncode=1
            ) from None
        finally:
            if progress:
                progress.close()
        if verbosity >= 1:
            self.report(result, told, verbosity)

    def password(self, options, seed):
        """Return the sample password and how to tell the user about it."""
        if options["password"] is not None:
            if not options["password"]:
                raise CommandError("--password must not be empty", returncode=2)
            return options["password"], "the password given by --password"
        if settings.SAMPLE_USER_PASSWORD:
            return settings.SAMPLE_USER_PASSWORD, "the password in SAMPLE_USER_PASSWORD"
        if not settings.DEBUG:
            # Outside development the derived default would be printed to a
            # log, for an account that can use the admin.
            raise CommandError(
                "with DEBUG off, give the sample users' password with --password "
                "or SAMPLE_USER_PASSWORD",
                returncode=2,
            )
        password = sample_data.derived_password(seed)
        return password, f"the password {password}"

    def report(self, result, told, verbosity):
        if result.users_removed:
            self.stdout.write(
                f"Removed {result.users_removed:,} sample users and their tasks."
            )
        if verbosity >= 2:
            self.stdout.write(
                f"Left alone {result.tasks_kept:,} existing tasks of the sample users."
            )
        rate = result.rows / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.users:,} sample users ({result.users_created:,} "
                f"new) and {result.tasks:,} sample tasks ({result.tasks_created:,} "
                f"new) in {result.seconds:.2f} s "
                f"({rate:,.0f} rows/s)."
            )
        )
        if result.users:
            last = sample_data.sample_username(result.users)
            self.stdout.write(
                f"Sample users {sample_data.sample_username(1)} to {last} "
                f"(@{sample_data.SAMPLE_DOMAIN}) log in with {told}."
            )
        if result.staff_created:
            self.stdout.write(
                f"Created the staff account {result.staff_created}: log in to "
                f"the admin at /admin/ as {result.staff_created} with {told}."
            )
        elif result.staff_existing and result.staff_password_kept:
            self.stdout.write(
                f"Staff account: log in to the admin at /admin/ as "
                f"{result.staff_existing} with {told}."
            )
        elif result.staff_existing:
            self.stdout.write(
                f"Staff account: log in to the admin at /admin/ as "
                f"{result.staff_existing} with the password set for it "
                f"(manage.py changepassword {result.staff_existing} sets another)."
            )
        elif result.staff_skipped:
            self.stderr.write(f"Note: {result.staff_skipped}.")
        else:
            self.stdout.write(
                "Staff account: log in to the admin at /admin/ with yours "
                "(manage.py createsuperuser makes another)."
            )


class Progress:
    """Show how many tasks are written.

    On a terminal, a bar redrawn in place; elsewhere (a log, CI), a line
    every few seconds, so that small runs print none.
    """

    WIDTH = 30
    INTERVAL = 5.0

    def __init__(self, out, *, clock=time.monotonic) -> None:
        self.out = out
        self.tty = out.isatty()
        self.clock = clock
        self.started = clock()
        self.last = self.started
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.tty:
            if now - self.last < 0.1 and done < total:
                return
            filled = self.WIDTH * done // total if total else self.WIDTH
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.out.write(
                f"\rtasks [{bar}] {self.percent(done, total):>4} "
                f"{done:,}/{total:,} {now - self.started:.1f} s",
                ending="",
            )
            self.out.flush()
            self.drawn = True
        elif now - self.last >= self.INTERVAL:
            self.out.write(
                f"tasks: {done:,} of {total:,} ({self.percent(done, total)}) "
                f"after {now - self.started:.1f} s"
            )
        else:
            return
        self.last = now

    @staticmethod
    def percent(done: int, total: int) -> str:
        return f"{100 * done // total if total else 100}%"

    def close(self) -> None:
        if self.drawn:
            self.out.write("")
