import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# One character that shows something: a regular expression that Python's
# re and PostgreSQL's regular expressions read alike (character-entry
# escapes inside a bracket expression), so that the validator below and the
# task_title_not_blank CHECK (tasks/0008) draw the same line. It leaves out:
#
# - whitespace: Python's str.isspace(), which holds Unicode's White_Space
#   and the ASCII separators U+001C-U+001F (listed rather than \s, whose
#   meaning in PostgreSQL depends on the database's locale);
# - Unicode's Default_Ignorable_Code_Point: characters a renderer draws as
#   nothing, such as the zero-width space and joiners, the byte-order mark,
#   direction marks, the combining grapheme joiner U+034F, the Hangul
#   fillers U+115F, U+1160, U+3164 and U+FFA0, the variation selectors
#   U+180B-U+180F, U+FE00-U+FE0F and U+E0100-U+E01EF, and the tags;
# - every other format character (Unicode category Cf), as before;
# - U+2800 BRAILLE PATTERN BLANK, which fonts draw as an empty cell.
#
# Frozen at Unicode 14 (Python 3.11): a character that a later version adds
# to these sets counts as visible until a new migration changes the CHECK
# together with this pattern.
VISIBLE_CHARACTER = (
    r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u00ad\u034f\u0600-\u0605"
    r"\u061c\u06dd\u070f\u0890-\u0891\u08e2\u115f-\u1160\u1680\u17b4-\u17b5"
    r"\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u2800\u3000"
    r"\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd"
    r"\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0000-\U000e0fff]"
)
_VISIBLE = re.compile(VISIBLE_CHARACTER)


def validate_not_blank(value: str) -> None:
    """Refuse a value that is empty or shows nothing.

    Whitespace and the characters that render as nothing (zero-width
    characters, fillers, variation selectors: see ``VISIBLE_CHARACTER``)
    count as blank, in this validator and in the database's CHECK alike.
    """
    if not _VISIBLE.search(value or ""):
        raise ValidationError(_("This field cannot be blank."), code="blank")


def validate_no_surrogates(value: str) -> None:
    """Refuse text with a lone surrogate, which UTF-8 cannot encode.

    Python strings may hold U+D800-U+DFFF (``"\\ud800"``); PostgreSQL text
    may not, and the driver would fail with ``UnicodeEncodeError``.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            _("Text cannot contain a lone surrogate (U+%(code)04X)."),
            code="surrogate",
            params={"code": ord(value[exc.start])},
        ) from None
