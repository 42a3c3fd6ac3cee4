import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def validate_not_blank(value: str) -> None:
    """Refuse a value that is empty or shows nothing.

    Whitespace, and the invisible format characters (zero-width space and
    joiners, the byte-order mark, direction marks: Unicode category Cf),
    count as blank.
    """
    visible = [
        char
        for char in value or ""
        if not char.isspace() and unicodedata.category(char) != "Cf"
    ]
    if not visible:
        raise ValidationError(_("This field cannot be blank."), code="blank")
