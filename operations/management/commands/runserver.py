from django.contrib.staticfiles.management.commands import runserver
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from operations.checks import require_secret_key


class Command(runserver.Command):
    """Django's runserver (with static files), refusing to run without a key."""

    def handle(self, *args, **options):
        try:
            require_secret_key()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        super().handle(*args, **options)
