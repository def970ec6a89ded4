"""scripts/report.py: the page is drawn by headless Chromium, offline."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from chalicelib.container import get_container
from scripts import report
from tests.api.test_analytics import MONTH, generate_calls
from tests.helpers import body

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]



@pytest.fixture(autouse=True)
def keep_everything(app_env, monkeypatch):
    """The generated data has fixed dates: keep them inside retention whenever the suite runs."""
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("RETENTION_DAYS", "36500")
    reset_settings()


def api_fetch(client):
    def fetch(path, params):
        response = client.http.get(f"{path}?{urlencode(params)}")
        assert response.status_code == 200, response.body
        return body(response)
    return fetch


def drawn_dom(page, profile) -> str:
    """The page's DOM after its scripts ran, as headless Chromium sees it."""
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                             "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def chart(dom: str, chart_id: str) -> str:
    match = re.search(rf'<div class="chart" id="{chart_id}"([^>]*)>(.*?)</div>', dom, re.S)
    assert match, f"no chart {chart_id}"
    assert 'data-drawn="true"' in match.group(1), f"{chart_id} was not drawn"
    return match.group(2)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed (`make test` installs it as root)")
@pytest.mark.parametrize("campaign", [None, "cmp_1"])
def test_the_report_renders_its_charts_in_headless_chromium(client, db, tmp_path, campaign):
    calls = generate_calls(400)
    db["calls"].insert_many([c.to_mongo() for c in calls])
    first, end = MONTH, MONTH + timedelta(days=7)
    get_container().rollups.rebuild(first, end - timedelta(days=1))

    data = report.collect(api_fetch(client), first, end, campaign=campaign, zone="Asia/Kolkata")
    week = [c for c in calls if first <= c.created_at.date() < end and (campaign is None or c.campaign_id == campaign)]
    assert sum(data["byHour"]) == len(week) and data["funnel"][0] == ["Calls", len(week)]
    assert len(data["trend"]) == 7
    page = tmp_path / "report.html"
    page.write_text(report.render(data), encoding="utf-8")
    text = page.read_text().replace("http://www.w3.org/2000/svg", "")   # the SVG namespace is a name, not a fetch
    assert "http://" not in text and "https://" not in text and "src=" not in text

    dom = drawn_dom(page, tmp_path / "profile")
    assert chart(dom, "by-hour").count("<rect") == 24
    assert chart(dom, "outcomes").count("<rect") == len(data["outcomes"]) > 0
    trend = chart(dom, "answer-rate")
    assert re.search(r'<path d="M[\d. ]+( L[\d. ]+){3,}"', trend) and trend.count("<circle") >= 4
    assert chart(dom, "funnel").count("<rect") == 4
    assert json.loads(re.search(r'id="report-data">(.*?)</script>', dom, re.S).group(1))["title"]


def test_the_script_refuses_without_a_key(capsys, monkeypatch):
    monkeypatch.delenv("OUTDIAL_API_KEY", raising=False)
    with pytest.raises(SystemExit):
        report.main(["--from", "2026-09-01", "--to", "2026-09-02"])
    assert "API key" in capsys.readouterr().err
