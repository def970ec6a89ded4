"""Reading import files and sheets, and finding a contact's sheet row (pure)."""
import pytest

from chalicelib.errors import PayloadTooLarge, ValidationFailed
from chalicelib.models.campaign import CallResult, CampaignContact
from chalicelib.providers.sheets import a1_sheet, column_letter
from chalicelib.services import imports
from chalicelib.services.imports import Columns, ImportReport, rows_from_csv, rows_from_json, rows_from_table
from chalicelib.services.sheet_sync import _Locator, status_text
from scripts.devstack.fake_sheets import ApiError, column_index, parse_range


def test_csv_rows_keep_spreadsheet_numbers():
    rows = rows_from_csv('\ufeffPHONE, Name ,Plan\r\n\r\n+14155552671,Ann,"gold, yearly"\r\n'
                         '"+1 415\n555 2672",Bob\r\n , ,\r\n4155552673,,silver,extra\r\n')
    assert [(r.row, r.phone, r.name, r.custom_data) for r in rows] == [
        (3, "+14155552671", "Ann", {"Plan": "gold, yearly"}),
        (4, "+1 415\n555 2672", "Bob", {"Plan": ""}),
        (6, "4155552673", None, {"Plan": "silver"}),
    ]


@pytest.mark.parametrize("header, field", [("number,name", "phone"), ("phone,Phone", "phone"),
                                           ("phone,$x", "$x"), ("phone,a.b", "a.b"), ("", "phone")])
def test_unusable_headers(header, field):
    with pytest.raises(ValidationFailed) as error:
        rows_from_csv(header + "\n1\n")
    assert error.value.field == field


def test_row_limit(monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_ROWS", 3)
    assert len(rows_from_csv("phone\n1\n2\n\n3\n")) == 3
    with pytest.raises(PayloadTooLarge):
        rows_from_csv("phone\n1\n2\n3\n4\n")
    with pytest.raises(PayloadTooLarge):
        rows_from_json([{"phone": "1"}] * 4)


def test_sheet_columns_by_configured_names():
    table = [["Tel", "Full name", "Status", "Notes"], ["+14155552671", "Ann", "done", "x"]]
    rows = rows_from_table(table, first_row=4, columns=Columns(phone="tel", name="FULL NAME", ignored=("status",)))
    assert [(r.row, r.phone, r.name, r.custom_data) for r in rows] == [(5, "+14155552671", "Ann", {"Notes": "x"})]


def test_custom_data_limits():
    ok = {f"k{i}": "v" for i in range(50)}
    assert imports._custom(ok) == ok
    for bad, field in [({f"k{i}": 1 for i in range(51)}, "customData"), ({"a": "x" * 1001}, "customData.a"),
                       ({"a": [1]}, "customData.a"), ({"a": float("nan")}, "customData.a"),
                       ({"a.b": 1}, "customData"), ({"": 1}, "customData")]:
        with pytest.raises(imports._Rejected) as error:
            imports._custom(bad)
        assert error.value.field == field


def test_report_lists_the_first_thousand_rejections_and_counts_all():
    report = ImportReport(rows_total=1500)
    for row in range(1500):
        report.reject(row + 2, "phone", "bad")
    body = report.to_api()
    assert (body["rejectedCount"], len(body["rejected"]), body["accepted"]) == (1500, 1000, 0)


def test_a1_helpers_agree_with_the_fake():
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    assert all(column_index(column_letter(i)) == i for i in range(2000))
    assert a1_sheet("Bob's list") == "'Bob''s list'"
    titles = ["Bob's list", "Sheet1"]
    assert parse_range("'Bob''s list'!B2:C", titles)[1:3] == (1, 1)
    assert parse_range("Sheet1!3:3", titles)[1] == parse_range("Sheet1!3:3", titles)[3] == 2
    assert parse_range("Sheet1!D7", titles)[1:] == (6, 3, 6, 3)
    with pytest.raises(ApiError):
        parse_range("Other!A1", titles)


def test_the_locator_follows_a_moved_row():
    cells = ["+1 415 555 2671", "", "(415) 555-2672", "14155552673"]
    locate = _Locator(cells, first_row=2)
    assert locate("+14155552671", 2) == 2                 # still where it was
    assert locate("+14155552672", 2) == 4                 # moved down
    assert locate("+14155552673", 99) == 5
    assert locate("+14155552679", 3) is None              # gone from the sheet


def test_status_text():
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    row = CampaignContact(id="cct_1", created_at=now, updated_at=now, campaign_id="c", contact_id="k",
                          phone="+14155552671", status="failed",
                          call_results=[CallResult(call_id="call_1", timestamp=now, status="failed",
                                                   failure_reason="busy")])
    assert status_text(row) == "failed (busy)"
    assert status_text(row.model_copy(update={"status": "completed", "call_results": []})) == "completed"
