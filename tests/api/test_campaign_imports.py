"""Importing a campaign's contacts from CSV, a JSON array, or its Google Sheet."""
import json
import random
import threading
import time

import pytest

from chalicelib import clock
from chalicelib.container import get_container
from chalicelib.ids import new_id
from chalicelib.models.campaign import Campaign, CampaignContact, CampaignStatus, ContactStatus, SheetIntegration
from chalicelib.providers.sheets import SheetsError
from chalicelib.services.imports import ImportRow
from scripts.devstack.fake_sheets import FakeSheets
from tests.helpers import body, post_json

CSV = {"content-type": "text/csv"}


@pytest.fixture
def make_campaign(client):
    """A campaign inserted directly (the campaign API is built elsewhere)."""

    def make(status=CampaignStatus.DRAFT, **fields):
        now = clock.now()
        campaign = Campaign(id=new_id("cmp"), created_at=now, updated_at=now, name="Spring recall", agent_id="agt_x",
                            status=status, callback_secret="s" * 32, **fields)
        get_container().campaigns.insert(campaign)
        return campaign.id

    return make


@pytest.fixture
def campaign(make_campaign):
    return make_campaign()


def import_csv(client, campaign_id, text, query=""):
    return client.http.post(f"/campaigns/{campaign_id}/contacts/import{query}", headers=CSV, body=text.encode())


def report_of(response):
    assert response.status_code == 200, response.body
    return body(response)


def stats(db, campaign_id):
    return db.campaigns.find_one({"_id": campaign_id})["stats"]


def test_csv_rows_are_validated_merged_and_added(client, db, campaign):
    text = ("\ufeffPhone,NAME,Email,Appointment,Notes\r\n"
            "+1 415 555 2671,Ann Lee,ann@example.com,Tue 10:00,\"likes mornings, not Mondays\"\r\n"
            "\r\n"                                                           # row 3: blank, skipped
            "(415) 555-2672,\"Bob \"\"B\"\" Ray\",,Wed 11:00,\"two\nlines\"\r\n"   # row 4: quoted
            "not a number,Cy,,,\r\n"                                         # row 5
            ",Dee,,,\r\n"                                                    # row 6: no phone
            "415-555-2671,Ann again,,Thu,\r\n"                               # row 7: same as row 2
            "+14155552673,Eve,not-an-email,,\r\n"                            # row 8
            "020 7946 0958,Uk,,,\r\n")                                       # row 9: not a US number
    report = report_of(import_csv(client, campaign, text))
    assert report == {
        "rowsTotal": 7, "accepted": 3, "added": 2, "duplicatesMerged": 1, "doNotCall": 0, "contactsCreated": 2,
        "rejectedCount": 4,
        "rejected": [
            {"row": 5, "field": "phone", "reason": "not a phone number: not a number"},
            {"row": 6, "field": "phone", "reason": "a phone number is required"},
            {"row": 8, "field": "email", "reason": report["rejected"][2]["reason"]},
            {"row": 9, "field": "phone", "reason": "impossible phone number (wrong length for its country)"},
        ]}
    assert report["rejected"][2]["reason"].startswith("not an email address")
    rows = {r["phone"]: r for r in db.campaign_contacts.find({"campaignId": campaign})}
    assert set(rows) == {"+14155552671", "+14155552672"}
    ann = rows["+14155552671"]
    assert (ann["status"], ann["attempts"], ann["nextAttempt"].replace(tzinfo=clock.now().tzinfo)) == \
        ("pending", 0, clock.now())
    assert ann["customData"] == {"Appointment": "Tue 10:00", "Notes": "likes mornings, not Mondays"}
    assert rows["+14155552672"]["customData"] == {"Appointment": "Wed 11:00", "Notes": "two\nlines"}
    contact = db.contacts.find_one({"phone": "+14155552671"})
    assert (contact["name"], contact["email"], contact["source"]) == ("Ann Lee", "ann@example.com", "import")
    assert contact["details"]["timezone"] == "America/Los_Angeles"
    assert db.contacts.find_one({"phone": "+14155552672"})["name"] == 'Bob "B" Ray'
    assert stats(db, campaign)["totalContacts"] == 2


def test_a_repeated_import_adds_nothing(client, db, campaign):
    text = "phone,name\n+14155552671,Ann\n+14155552672,Bob\n"
    first = report_of(import_csv(client, campaign, text))
    again = report_of(import_csv(client, campaign, text))
    assert (first["added"], again["added"], again["duplicatesMerged"], again["contactsCreated"]) == (2, 0, 2, 0)
    assert db.campaign_contacts.count_documents({"campaignId": campaign}) == 2
    assert db.contacts.count_documents({}) == 2
    assert stats(db, campaign)["totalContacts"] == 2
    # A new column refreshes the agent's variables of rows already there.
    report_of(import_csv(client, campaign, "phone,plan\n+14155552671,gold\n"))
    assert db.campaign_contacts.find_one({"phone": "+14155552671"})["customData"] == {"plan": "gold"}


def test_an_idempotency_key_replays_the_first_report(client, db, campaign):
    text = "phone\n+14155552671\n+14155552672\n"
    keyed = {**CSV, "idempotency-key": "import-1"}
    first = client.http.post(f"/campaigns/{campaign}/contacts/import", headers=keyed, body=text)
    replay = client.http.post(f"/campaigns/{campaign}/contacts/import", headers=keyed, body=text)
    assert report_of(replay) == report_of(first) and report_of(first)["added"] == 2
    assert replay.headers.get("Idempotent-Replayed") == "true"
    other = client.http.post(f"/campaigns/{campaign}/contacts/import", headers=keyed, body=text + "+14155552673\n")
    assert other.status_code == 422 and body(other)["error"]["field"] == "Idempotency-Key"
    assert db.campaign_contacts.count_documents({"campaignId": campaign}) == 2


def test_existing_contacts_are_reused_and_only_filled_in(client, db, campaign, make_campaign):
    created = post_json(client, "/contacts", {"phone": "+14155552671", "name": "Ann Original"})
    assert created.status_code == 201
    report = report_of(import_csv(client, campaign, "phone,name,email\n4155552671,Someone Else,ann@example.com\n"))
    assert (report["added"], report["contactsCreated"]) == (1, 0)
    contact = db.contacts.find_one({"phone": "+14155552671"})
    assert (contact["_id"], contact["name"], contact["email"]) == (body(created)["id"], "Ann Original",
                                                                  "ann@example.com")
    # The same person can be in two campaigns.
    other = make_campaign()
    assert report_of(import_csv(client, other, "phone\n+14155552671\n"))["added"] == 1
    assert db.contacts.count_documents({}) == 1


def test_json_array_with_flat_keys_and_custom_data(client, db, campaign):
    items = [{"phone": "07911 123451", "name": "Ann", "appointment": "Tue", "customData": {"visits": 3}},
             {"phone": "+44 7911 123452", "customData": {"vip": True, "note": None}},
             "not an object",
             {"phone": "+447911123453", "customData": {"nested": {"a": 1}}},
             {"phone": "+447911123454", "customData": "plain"},
             {"name": "no phone"},
             {"phone": 447911123455}]
    response = post_json(client, f"/campaigns/{campaign}/contacts/import?region=gb", items)
    report = report_of(response)
    assert (report["rowsTotal"], report["added"]) == (7, 2)
    assert [(r["row"], r["field"]) for r in report["rejected"]] == [
        (3, "row"), (4, "customData.nested"), (5, "customData"), (6, "phone"), (7, "phone")]
    rows = {r["phone"]: r["customData"] for r in db.campaign_contacts.find({"campaignId": campaign})}
    assert rows == {"+447911123451": {"appointment": "Tue", "visits": 3},
                    "+447911123452": {"vip": True, "note": None}}
    assert db.contacts.find_one({"phone": "+447911123451"})["details"]["timezone"].startswith("Europe/")
    bad_region = post_json(client, f"/campaigns/{campaign}/contacts/import?region=XX", items)
    assert bad_region.status_code == 422 and body(bad_region)["error"]["field"] == "region"


def test_files_that_cannot_be_imported(client, campaign):
    no_phone = import_csv(client, campaign, "number,name\n+14155552671,Ann\n")
    assert no_phone.status_code == 422 and body(no_phone)["error"]["field"] == "phone"
    dotted = import_csv(client, campaign, "phone,a.b\n+14155552671,x\n")
    assert dotted.status_code == 422 and body(dotted)["error"]["field"] == "a.b"
    twice = import_csv(client, campaign, "phone,Phone\n1,2\n")
    assert twice.status_code == 422
    assert import_csv(client, campaign, "").status_code == 400
    assert client.http.post(f"/campaigns/{campaign}/contacts/import", headers={"content-type": "application/json"},
                            body=b"{not json").status_code == 400
    not_array = post_json(client, f"/campaigns/{campaign}/contacts/import", {"phone": "+14155552671"})
    assert not_array.status_code == 422
    latin1 = client.http.post(f"/campaigns/{campaign}/contacts/import", headers=CSV, body="phone\n\xe9\n".encode("latin-1"))
    assert latin1.status_code == 400
    xml = client.http.post(f"/campaigns/{campaign}/contacts/import", headers={"content-type": "application/xml"},
                           body=b"<a/>")
    assert xml.status_code == 415


def test_an_upload_over_the_limit_is_refused(client, db, campaign):
    line = "+14155552671," + "x" * 1000 + "\n"
    too_big = "phone,notes\n" + line * (6 * 1024 * 1024 // len(line) + 1)
    response = import_csv(client, campaign, too_big)
    assert response.status_code == 413
    assert "split" in body(response)["error"]["message"]
    assert db.campaign_contacts.count_documents({}) == 0


def test_only_open_campaigns_take_contacts(client, make_campaign):
    assert import_csv(client, "cmp_missing", "phone\n+14155552671\n").status_code == 404
    for status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
        response = import_csv(client, make_campaign(status=status), "phone\n+14155552671\n")
        assert response.status_code == 409, status
    for status in (CampaignStatus.ACTIVE, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED):
        assert import_csv(client, make_campaign(status=status), "phone\n+14155552671\n").status_code == 200


def test_do_not_call_numbers_are_recorded_as_skipped(client, db, campaign):
    assert post_json(client, "/dnc", {"phone": "+14155552672"}).status_code == 201
    report = report_of(import_csv(client, campaign, "phone\n+14155552671\n(415) 555-2672\n"))
    assert (report["added"], report["doNotCall"]) == (2, 1)
    skipped = db.campaign_contacts.find_one({"phone": "+14155552672"})
    assert (skipped["status"], skipped["skipReason"]) == ("skipped", "do_not_call")
    assert "nextAttempt" not in skipped
    assert (stats(db, campaign)["totalContacts"], stats(db, campaign)["contactsFailed"]) == (2, 1)
    again = report_of(import_csv(client, campaign, "phone\n+14155552671\n(415) 555-2672\n"))
    assert again["added"] == 0 and stats(db, campaign)["contactsFailed"] == 1


def test_rejections_are_listed_up_to_a_cap_and_counted_exactly(client, campaign):
    text = "phone\n" + "nope\n" * 1500 + "+14155552671\n"
    report = report_of(import_csv(client, campaign, text))
    assert (report["rejectedCount"], len(report["rejected"]), report["added"]) == (1500, 1000, 1)
    assert report["rejected"][-1]["row"] == 1001


def test_a_cancel_during_the_import_leaves_nothing_to_dial(client, db, campaign):
    imports = get_container().import_service
    real_add = imports._rows.add_many

    def add_then_cancel(rows):
        result = real_add(rows)
        db.campaigns.update_one({"_id": campaign}, {"$set": {"status": "cancelled"}})
        return result

    imports._rows.add_many = add_then_cancel
    response = import_csv(client, campaign, "phone\n+14155552671\n")
    assert response.status_code == 409
    assert db.campaign_contacts.find_one({"campaignId": campaign})["status"] == "cancelled"


def test_concurrent_imports_of_the_same_numbers_add_each_once(client, db, campaign):
    imports = get_container().import_service
    rows = [ImportRow(row=i + 2, phone=f"+1415555{2000 + i:04d}") for i in range(300)]
    reports, errors = [], []

    def run():
        try:
            reports.append(imports.import_rows(campaign, rows, region=None, source="import"))
        except Exception as exc:   # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.added for r in reports) == 300
    assert db.campaign_contacts.count_documents({"campaignId": campaign}) == 300
    assert db.contacts.count_documents({}) == 300
    assert stats(db, campaign)["totalContacts"] == 300


def test_a_50000_row_file(client, db, campaign):
    """50,000 rows, every one parsed and checked; 5,000 distinct numbers, so
    the embedded database (~1,000 inserts/s with our indexes) keeps the test
    short. 100,000 distinct contacts are measured in `scripts/bench.py import`."""
    random.seed(5)
    numbers = random.sample(range(2_000_000, 9_999_999), 5_000)
    lines = [f"(415) {n // 10000:03d}-{n % 10000:04d},Person {i},{i % 7}" for i, n in enumerate(numbers * 10)]
    text = "phone,name,segment\n" + "\n".join(lines) + "\n"
    started = time.perf_counter()
    report = report_of(import_csv(client, campaign, text))
    elapsed = time.perf_counter() - started
    unique = report["added"]
    assert report["rowsTotal"] == 50_000 and report["accepted"] == 50_000 - report["rejectedCount"]
    assert report["duplicatesMerged"] == report["accepted"] - unique and unique <= 5_000
    assert unique == 5_000 - report["rejectedCount"] // 10
    assert db.campaign_contacts.count_documents({"campaignId": campaign}) == unique
    assert stats(db, campaign)["totalContacts"] == unique
    print(f"50,000-row CSV ({unique:,} distinct numbers) imported in {elapsed:.1f} s")


# -- Google Sheets --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake_sheets():
    fake = FakeSheets().start()
    yield fake
    fake.stop()


@pytest.fixture
def sheets(fake_sheets, monkeypatch, client):
    from chalicelib.settings import reset_settings
    from chalicelib.container import set_container

    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_JSON", json.dumps(fake_sheets.service_account))
    monkeypatch.setenv("SHEETS_API_URL", fake_sheets.url)
    reset_settings()
    set_container(None)
    return fake_sheets


SHEET = [["Patient list"],
         ["Phone", "Name", "Appointment", "Call status"],
         ["+1 415 555 2671", "Ann", "Tue"],
         [],
         ["415.555.2672", "Bob", "Wed", "old value"],
         ["bad", "Cy"],
         ["(415) 555-2671", "Ann twice"]]


def sheet_campaign(make_campaign, spreadsheet_id, **fields):
    integration = SheetIntegration(spreadsheet_id=spreadsheet_id, sheet_id="Patients 2026", header_row=2,
                                   phone_column="phone", name_column="Name", status_column="Call status", **fields)
    return make_campaign(sheet_integration=integration)


def test_a_sheet_is_imported_like_a_csv_and_statuses_are_written_back(client, db, sheets, make_campaign):
    sheets.put("sheet-1", {"Patients 2026": [list(r) for r in SHEET]})
    campaign = sheet_campaign(make_campaign, "sheet-1")
    report = report_of(client.http.post(f"/campaigns/{campaign}/sheet/import"))
    assert (report["rowsTotal"], report["added"], report["duplicatesMerged"]) == (4, 2, 1)
    assert report["rejected"] == [{"row": 6, "field": "phone", "reason": "not a phone number: not a number"}]
    rows = {r["phone"]: r for r in db.campaign_contacts.find({"campaignId": campaign})}
    assert {p: (r["sheetRow"], r["customData"]) for p, r in rows.items()} == {
        "+14155552671": (3, {"Appointment": "Tue"}), "+14155552672": (5, {"Appointment": "Wed"})}
    assert db.contacts.find_one({"phone": "+14155552671"})["source"] == "sheet"
    assert db.campaigns.find_one({"_id": campaign})["sheetIntegration"]["lastSyncTime"] is not None

    # Someone sorts the sheet: Bob moves up a row. The write finds him anyway.
    grid = sheets.rows("sheet-1", "Patients 2026")
    grid[3], grid[4] = grid[4], grid[3]
    sheets.put("sheet-1", {"Patients 2026": grid})
    sync = get_container().sheet_sync
    repo = get_container().campaign_contacts
    ann, bob = repo.get(rows["+14155552671"]["_id"]), repo.get(rows["+14155552672"]["_id"])
    bob = bob.model_copy(update={"status": "skipped", "skip_reason": "do_not_call"})
    assert sync.write_statuses(campaign, [ann, bob]) == 2
    grid = sheets.rows("sheet-1", "Patients 2026")
    assert grid[2][3] == "pending" and grid[3][3] == "skipped (do_not_call)"
    assert grid[3][:3] == ["415.555.2672", "Bob", "Wed"]

    response = client.http.post(f"/campaigns/{campaign}/sheet/sync")
    assert body(response) == {"written": 2}
    assert sheets.rows("sheet-1", "Patients 2026")[3][3] == "pending"


def test_the_scheduled_write_back_writes_what_changed_since_the_last_run(client, db, sheets, make_campaign,
                                                                          frozen_clock):
    sheets.put("sheet-2", {"Patients 2026": [list(r) for r in SHEET]})
    campaign = sheet_campaign(make_campaign, "sheet-2")
    client.http.post(f"/campaigns/{campaign}/sheet/import")
    container = get_container()
    container.campaigns.transition(campaign, to=CampaignStatus.ACTIVE, allowed_from=[CampaignStatus.DRAFT],
                                   now=clock.now())
    sync = container.sheet_sync
    frozen_clock.advance(minutes=1)
    assert sync.write_recent_statuses() == {"written": 2, "failed": 0}
    frozen_clock.advance(minutes=1)
    assert sync.write_recent_statuses() == {"written": 0, "failed": 0}

    bob = db.campaign_contacts.find_one({"campaignId": campaign, "phone": "+14155552672"})
    container.campaign_contacts.move(bob["_id"], to=ContactStatus.CALLING, allowed_from=[ContactStatus.PENDING],
                                     now=clock.now())
    assert sync.write_recent_statuses() == {"written": 1, "failed": 0}
    assert sheets.rows("sheet-2", "Patients 2026")[4][3] == "calling"

    sheets.put("sheet-2", {})                        # the sheet is gone: reported, tried again next time
    frozen_clock.advance(minutes=1)
    container.campaign_contacts.move(bob["_id"], to=ContactStatus.COMPLETED, allowed_from=[ContactStatus.CALLING],
                                     now=clock.now())
    assert sync.write_recent_statuses()["failed"] == 1
    sheets.put("sheet-2", {"Patients 2026": [list(r) for r in SHEET]})
    assert sync.write_recent_statuses() == {"written": 1, "failed": 0}


def test_sheet_problems_are_reported(client, sheets, make_campaign):
    plain = make_campaign()
    response = client.http.post(f"/campaigns/{plain}/sheet/import")
    assert response.status_code == 422 and body(response)["error"]["field"] == "sheetIntegration"
    missing = client.http.post(f"/campaigns/{sheet_campaign(make_campaign, 'nope')}/sheet/import")
    assert body(missing)["error"]["field"] == "sheetIntegration.spreadsheetId"
    sheets.put("private", {"Patients 2026": SHEET}, shared=False)
    private = body(client.http.post(f"/campaigns/{sheet_campaign(make_campaign, 'private')}/sheet/import"))
    assert "share it with outdial-local@" in private["error"]["message"]
    sheets.put("other-tab", {"Sheet1": SHEET})
    wrong_tab = client.http.post(f"/campaigns/{sheet_campaign(make_campaign, 'other-tab')}/sheet/import")
    assert wrong_tab.status_code == 422 and body(wrong_tab)["error"]["field"] == "sheetIntegration.sheetId"


def test_sheets_not_configured(client, make_campaign):
    campaign = sheet_campaign(make_campaign, "sheet-1")
    response = client.http.post(f"/campaigns/{campaign}/sheet/import")
    assert response.status_code == 503
    now = clock.now()
    row = CampaignContact(id="cct_1", created_at=now, updated_at=now, campaign_id=campaign, contact_id="ctc_1",
                          phone="+14155552671", sheet_row=3)
    with pytest.raises(SheetsError, match="GOOGLE_SERVICE_ACCOUNT"):
        get_container().sheet_sync.write_status(campaign, row)
