from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def validate_not_blank(value: str) -> None:
    """Refuse a value that is empty or only whitespace."""
    if not value or value.isspace():
        raise ValidationError(_("This field cannot be blank."), code="blank")
