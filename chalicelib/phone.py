"""Phone numbers: whatever people type in, E.164 out."""
from __future__ import annotations

import phonenumbers

from .errors import ValidationFailed


def to_e164(raw: str, *, default_region: str, field: str) -> str:
    """Normalise `raw` to E.164, or raise ValidationFailed naming `field`.

    Numbers without a leading + are read in `default_region` ("020 7946 0958"
    with GB). Only numbers that phonenumbers considers valid for their region
    pass: a possible-but-unassigned range is as undialable as a typo.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed("a phone number is required", field=field)
    try:
        number = phonenumbers.parse(raw, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(f"not a phone number: {_reason(exc)}", field=field) from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationFailed("impossible phone number (wrong length for its country)", field=field)
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed("invalid phone number (no such number range)", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _reason(exc: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, str(exc))


def mask(e164: str | None) -> str | None:
    """`+14155552671` -> `+1415555****`: enough to recognise, not to dial."""
    if not e164:
        return e164
    return e164[:-4] + "****" if len(e164) > 6 else "****"
