from django.core.management.commands import loaddata

from ownership.scope import system_scope


class Command(loaddata.Command):
    help = (
        f"{loaddata.Command.help} Runs in the system scope, so row-level "
        "security accepts tasks of every owner."
    )

    def handle(self, *fixture_labels, **options):
        with system_scope(using=options["database"]):
            return super().handle(*fixture_labels, **options)
