"""The project's settings, with what a REST API adds the ordinary way.

DRF's token table (``rest_framework.authtoken``) needs an app of its own;
nothing else of the project changes, so the API tests run against the
settings a developer who adds DRF gets.
"""

from todoproject.settings import *  # noqa: F403
from todoproject.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework", "rest_framework.authtoken"]
