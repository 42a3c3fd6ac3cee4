import os
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
        "time>.dump), readable by its owner only (mode 0600). Restore it with "
        "the restore command. Exit codes: 0 written, 1 the dump failed or "
        "--output cannot be written (nothing is left behind)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            help="dump file to write, in an existing folder (not a directory)",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            metavar="ALIAS",
            choices=tuple(connections),
            help="database alias to dump (default: default)",
        )

    def handle(self, *args, **options):
        alias = options["database"]
        output = options["output"]
        try:
            written = dump(alias, self.output_path(alias, output))
        except BackupError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(self.style.SUCCESS(f"Backup written to {written}"))

    @staticmethod
    def output_path(alias, output) -> Path:
        if output is None:
            name = connections[alias].settings_dict["NAME"]
            stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
            folder = Path(settings.BASE_DIR) / "var" / "backups"
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BackupError(
                    f"cannot create {folder}: {exc.strerror or exc}"
                ) from None
            return folder / f"{name}-{stamp}.dump"
        # Path() drops a trailing slash, and with it the sign that a
        # directory was meant.
        if str(output).endswith(("/", os.sep)):
            raise BackupError(f"cannot write the dump to {output}: it is a directory")
        return Path(output)
