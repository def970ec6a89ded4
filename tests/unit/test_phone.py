import pytest

from chalicelib.errors import ValidationFailed
from chalicelib.phone import mask, to_e164


@pytest.mark.parametrize("raw, region, expected", [
    ("(415) 555-2671", "US", "+14155552671"),
    ("415.555.2671", "US", "+14155552671"),
    ("+1 415 555 2671", "GB", "+14155552671"),
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("07123 456789", "GB", "+447123456789"),
    ("+91 98765 43210", "US", "+919876543210"),
])
def test_normalises_what_people_type(raw, region, expected):
    assert to_e164(raw, default_region=region, field="to") == expected


@pytest.mark.parametrize("raw, reason", [
    ("", "required"),
    ("not a number", "not a phone number"),
    ("12", "impossible"),
    ("+1 555 010 0000", "invalid"),          # 555-01xx is not an assigned range
    ("+999 1234 5678", "unknown country code"),
    ("020 7946 0958", "impossible"),         # a UK number read as US: too short
])
def test_rejects_with_field_and_reason(raw, reason):
    with pytest.raises(ValidationFailed) as excinfo:
        to_e164(raw, default_region="US", field="to")
    assert excinfo.value.field == "to"
    assert reason in excinfo.value.message


def test_mask_keeps_the_number_unusable():
    assert mask("+14155552671") == "+1415555****"
