from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from operations.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Load a dump written by the backup command into an EMPTY database "
        "(point DATABASE_URL at it, as the owner that migrates, never a "
        "superuser; no migrate first), in one transaction: all of it or "
        "nothing. Rows, constraints, the ON DELETE CASCADE and the row-level "
        "security policies come back as they were; the runtime role's grants "
        "and the REVOKEs are made again, as migrate makes them. Then run "
        "migrate, healthcheck, and switch. Exit codes: 0 restored, 1 the "
        "restore failed, the database is not empty or the role is a superuser."
    )

    def add_arguments(self, parser):
        parser.add_argument("dump_file", type=Path, help="file written by backup")
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            metavar="ALIAS",
            choices=tuple(connections),
            help="database alias to restore into (default: default)",
        )

    def handle(self, *args, **options):
        try:
            current = restore(options["database"], options["dump_file"])
        except BackupError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            self.style.SUCCESS(f"Restored {options['dump_file']} into the database")
        )
        if not current:
            self.stdout.write(
                "The dump is of an older schema: run manage.py migrate next."
            )
