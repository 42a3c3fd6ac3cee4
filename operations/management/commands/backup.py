from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from operations.backup import BackupError, dump


class Command(BaseCommand):
    help = (
        "Write a pg_dump (custom format) of every row, row-level security "
        "notwithstanding, to --output (default var/backups/<database>-<UTC "
        "time>.dump). Restore it with the restore command. Exit codes: 0 "
        "written, 1 the dump failed (nothing is left under the final name)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", type=Path, help="dump file to write (its folder is created)"
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="database alias to dump (default: default)",
        )

    def handle(self, *args, **options):
        alias = options["database"]
        output = options["output"]
        if output is None:
            name = connections[alias].settings_dict["NAME"]
            stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
            output = (
                Path(settings.BASE_DIR) / "var" / "backups" / f"{name}-{stamp}.dump"
            )
        try:
            written = dump(alias, output)
        except BackupError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(self.style.SUCCESS(f"Backup written to {written}"))
