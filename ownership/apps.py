from django.apps import AppConfig


class OwnershipConfig(AppConfig):
    """Who the database acts for: scopes, their middleware, the policies."""

    name = "ownership"
    verbose_name = "ownership"
