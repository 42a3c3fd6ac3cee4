import json
import math

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from operations import health
from operations.health import Status
from operations.health.report import MEANINGS

# Longer than any sane probe: a larger value is a mistake (inf would even
# overflow the thread wait), not a wish.
MAX_SECONDS = 300

EXIT_CODES = (
    "Exit codes: 0 healthy (warnings allowed); 1 cannot connect (refused, "
    "timeout, unknown host, authentication or SSL refused, unknown database); "
    "2 usage error; 3 reachable but migrations are pending; 4 reachable and "
    "migrated but the integrity posture is broken (tasks foreign key not ON "
    "DELETE CASCADE, row-level security not enabled and forced, the role "
    "is a superuser or BYPASSRLS, the policies, functions, triggers or grants "
    "differ from what migrate installed, or the runtime role has session "
    "defaults the project does not set; run manage.py migrate as the owner)."
)


class Command(BaseCommand):
    help = (
        "Check that the database answers within a timeout, is migrated and "
        "still enforces task ownership; print one line per check, or one "
        "JSON document with --json. A failure's reason is on its FAIL line, "
        "and stderr gets one line naming that check (the reason itself with "
        f"--json or --verbosity 0). {EXIT_CODES}"
    )
    # A probe: Django's system checks neither help nor belong here.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            metavar="ALIAS",
            choices=tuple(connections),
            help='The database alias to check. Default: "default".',
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=health.DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help="Give up connecting after SECONDS, and on the queries after "
            "as long again: more than 0, at most "
            f"{MAX_SECONDS}. Default: {health.DEFAULT_TIMEOUT:g}.",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=0,
            metavar="SECONDS",
            help="Retry, with growing pauses, until healthy or SECONDS are up "
            f"(container start-up, a Neon compute waking): 0 to {MAX_SECONDS}. "
            "Default: 0, one try.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON document on stdout and nothing else there.",
        )
        parser.add_argument(
            "--allow-privileged-role",
            action="store_true",
            help="Report a role that can skip or lift row-level security (a "
            "superuser, BYPASSRLS, the owner of the task table or a member of "
            "one of these) as a warning, not a failure: for the owner used so "
            "on purpose, as the migration job does.",
        )

    def handle(self, *args, **options):
        alias = options["database"]
        if alias not in connections.settings:
            configured = ", ".join(connections.settings)
            raise CommandError(
                f"unknown database alias {alias!r} (configured: {configured})",
                returncode=health.USAGE_ERROR,
            )
        timeout = self.seconds(options, "timeout", minimum=0, inclusive=False)
        wait = self.seconds(options, "wait", minimum=0, inclusive=True)
        verbosity = options["verbosity"]

        def retrying(report, delay):
            if verbosity >= 1:
                self.stderr.write(
                    f"waiting for the database: {report.reason}; "
                    f"trying again in {delay:.2g} s"
                )

        report = health.wait_until_healthy(
            alias,
            wait=wait,
            timeout=timeout,
            allow_privileged_role=options["allow_privileged_role"],
            on_retry=retrying,
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        elif verbosity >= 1:
            self.write_report(report)
            if not report.healthy:
                # The FAIL line above holds the reason: say it once.
                raise CommandError(self.summary(report), returncode=report.exit_code)
        if not report.healthy:
            # Nothing a person reads names the reason yet (JSON is for
            # programs): the one line on stderr does.
            raise CommandError(report.reason, returncode=report.exit_code)

    @staticmethod
    def summary(report):
        """Return the stderr line of a failure whose FAIL line was printed."""
        summary = f"unhealthy, {MEANINGS[report.exit_code]}"
        if report.failed_check is None:
            return summary
        return f"{summary}: see the {report.failed_check.name} line above"

    @staticmethod
    def seconds(options, name, *, minimum, inclusive):
        value = options[name]
        valid = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            # nan compares false to everything; inf is not a timeout.
            and math.isfinite(value)
            and (value >= minimum if inclusive else value > minimum)
            and value <= MAX_SECONDS
        )
        if not valid:
            relation = "at least" if inclusive else "more than"
            raise CommandError(
                f"--{name} must be a number of seconds {relation} {minimum} "
                f"and at most {MAX_SECONDS}, got {value!r}",
                returncode=health.USAGE_ERROR,
            )
        return float(value)

    def write_report(self, report):
        vendor = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(
            report.vendor, report.vendor
        )
        version = report.server_version or "(version unknown)"
        embedded = "embedded" if report.embedded else "not embedded"
        self.stdout.write(
            f"database: {vendor} {version}, alias {report.alias}, {embedded}"
        )
        styles = {
            Status.OK: self.style.SUCCESS,
            Status.WARN: self.style.WARNING,
            Status.FAIL: self.style.ERROR,
        }
        width = max(
            [len(check.name) for check in report.checks]
            + [len(replica.alias) for replica in report.replicas]
        )
        for check in report.checks:
            label = "FAIL" if check.status == Status.FAIL else str(check.status)
            status = styles[check.status](f"{label:<4}")
            self.stdout.write(
                f"{check.name:<{width}}  {status}  {check.ms:8.1f} ms  {check.detail}"
            )
        for replica in report.replicas:
            label = "FAIL" if replica.status == Status.FAIL else str(replica.status)
            status = styles[replica.status](f"{label:<4}")
            lag = "" if replica.lag_bytes is None else f", {replica.lag_bytes:,} bytes"
            self.stdout.write(
                f"{replica.alias:<{width}}  {status}  replica      "
                f"{replica.detail}{lag}"
            )
        if report.healthy:
            warnings = sum(check.status == Status.WARN for check in report.checks)
            warnings += sum(r.status != Status.OK for r in report.replicas)
            summary = "healthy"
            if warnings:
                summary += f" ({warnings} warning{'s' if warnings > 1 else ''})"
            self.stdout.write(self.style.SUCCESS(summary))
