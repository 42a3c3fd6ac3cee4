from django.core.management.commands import dumpdata

from ownership.scope import system_scope


class Command(dumpdata.Command):
    help = (
        f"{dumpdata.Command.help} Runs in the system scope, so row-level "
        "security lets every task through instead of silently dumping none."
    )

    def handle(self, *app_labels, **options):
        with system_scope(using=options["database"]):
            return super().handle(*app_labels, **options)
