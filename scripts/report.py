"""Render an analytics report as one self-contained HTML page (no network needed to open it).

    python scripts/report.py --api http://127.0.0.1:8000 --from 2026-09-01 --to 2026-10-01 \
        [--campaign cmp_...] [--timezone Asia/Kolkata] [--out report.html]

The API key comes from OUTDIAL_API_KEY (or --key). Data comes from the
analytics API: GET /calls/stats (totals, outcomes, funnel, calls by hour in
the zone) and, per day, GET /analytics?type=daily (date-range reports) or
GET /calls/stats?campaignId (campaign reports) for the answer-rate trend.
Charts are SVG drawn by the page's own inline script from the embedded data.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlencode
from urllib.request import Request, urlopen

Fetch = Callable[[str, dict[str, str]], dict[str, Any]]


def http_fetch(api: str, key: str) -> Fetch:
    def fetch(path: str, params: dict[str, str]) -> dict[str, Any]:
        request = Request(f"{api.rstrip('/')}{path}?{urlencode(params)}", headers={"Authorization": f"Bearer {key}"})
        with urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    return fetch


def iso(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")


def collect(fetch: Fetch, first: date, end: date, *, campaign: str | None, zone: str) -> dict[str, Any]:
    """Everything the page shows, from the API. `end` is exclusive."""
    scope = {"campaignId": campaign} if campaign else {}
    stats = fetch("/calls/stats", {"from": iso(first), "to": iso(end), "timezone": zone, **scope})
    trend = []
    if campaign:
        day = first
        while day < end:
            daily = fetch("/calls/stats", {"from": iso(day), "to": iso(day + timedelta(days=1)), **scope})
            trend.append({"day": day.isoformat(), "answerRate": daily["outcomes"]["answerRate"],
                          "calls": daily["callVolume"]["total"]})
            day += timedelta(days=1)
    else:
        analytics = fetch("/analytics", {"type": "daily", "from": iso(first), "to": iso(end), "timezone": zone})
        trend = [{"day": item["date"][:10], "answerRate": item["outcomes"]["answerRate"],
                  "calls": item["callVolume"]["total"]} for item in analytics["items"]]
    outcomes = stats["outcomes"]
    return {
        "title": f"Campaign {campaign}" if campaign else "Calls",
        "period": f"{first.isoformat()} to {(end - timedelta(days=1)).isoformat()} (UTC days; hours in {zone})",
        "summary": [("Calls", stats["callVolume"]["total"]), ("Answer rate", percent(outcomes["answerRate"])),
                    ("Voicemail rate", percent(outcomes["voicemailRate"])),
                    ("Retry success", percent(stats["retries"]["successRate"])),
                    ("Average duration", f"{stats['duration']['average'] or 0:.0f} s"),
                    ("Cost", ", ".join(f"{v:.2f} {k}" for k, v in stats["cost"].items()) or "n/a")],
        "byHour": stats["callVolume"]["byHour"],
        "outcomes": {**stats["callVolume"]["byStatus"]},
        "trend": trend,
        "funnel": [["Calls", outcomes["calls"]], ["Dialed", outcomes["dialed"]], ["Answered", outcomes["answered"]],
                   ["Completed", outcomes["completed"]]],
    }


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


# Drawn by hand in SVG so the page needs nothing from the network.
SCRIPT = r"""
const NS = "http://www.w3.org/2000/svg";
function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}
function frame(id, w, h) {
  const holder = document.getElementById(id);
  return [holder, el("svg", {width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img"}, holder)];
}
function label(svg, x, y, text, anchor) {
  const t = el("text", {x, y, "font-size": 10, "text-anchor": anchor || "middle", fill: "#333"}, svg);
  t.textContent = text;
}
function bars(id, labels, values, color) {
  const [holder, svg] = frame(id, 680, 220);
  const max = Math.max(1, ...values), w = 600 / Math.max(1, values.length);
  values.forEach((v, i) => {
    const h = 170 * v / max;
    el("rect", {x: 40 + i * w + 1, y: 190 - h, width: Math.max(1, w - 2), height: Math.max(h, 0.5), fill: color},
       svg).appendChild(el("title", {})).textContent = `${labels[i]}: ${v}`;
    if (values.length <= 24 || i % 2 === 0) label(svg, 40 + i * w + w / 2, 205, labels[i]);
  });
  label(svg, 36, 24, String(max), "end");
  holder.dataset.drawn = "true";
}
function line(id, labels, values) {
  const [holder, svg] = frame(id, 680, 220);
  const step = 600 / Math.max(1, values.length - 1);
  const points = values.map((v, i) => v === null ? null : [40 + i * step, 190 - 170 * v]);
  let d = "";
  points.forEach((p) => { if (p) d += (d ? " L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1); });
  el("path", {d: d || "M40 190", fill: "none", stroke: "#1f77b4", "stroke-width": 2}, svg);
  points.forEach((p, i) => { if (p) el("circle", {cx: p[0], cy: p[1], r: 3, fill: "#1f77b4"}, svg); });
  label(svg, 36, 24, "100%", "end"); label(svg, 36, 190, "0%", "end");
  labels.forEach((text, i) => { if (i % Math.ceil(labels.length / 8) === 0) label(svg, 40 + i * step, 205, text); });
  holder.dataset.drawn = "true";
}
function funnel(id, stages) {
  const [holder, svg] = frame(id, 640, 40 * stages.length + 10);
  const max = Math.max(1, stages[0][1]);
  stages.forEach(([name, v], i) => {
    const w = 480 * v / max;
    el("rect", {x: 140 + (480 - w) / 2, y: 10 + i * 40, width: Math.max(w, 0.5), height: 30, fill: "#2ca02c"}, svg);
    label(svg, 130, 30 + i * 40, `${name}: ${v}`, "end");
  });
  holder.dataset.drawn = "true";
}
const data = JSON.parse(document.getElementById("report-data").textContent);
bars("by-hour", data.byHour.map((_, h) => String(h)), data.byHour, "#1f77b4");
const outcomeNames = Object.keys(data.outcomes).sort();
bars("outcomes", outcomeNames, outcomeNames.map((k) => data.outcomes[k]), "#ff7f0e");
line("answer-rate", data.trend.map((t) => t.day.slice(5)), data.trend.map((t) => t.answerRate));
funnel("funnel", data.funnel);
"""


def render(report: dict[str, Any]) -> str:
    cards = "".join(f"<div class=card><b>{html.escape(str(v))}</b><span>{html.escape(k)}</span></div>"
                    for k, v in report["summary"])
    # </script> cannot appear inside the JSON: '<' is escaped.
    data = json.dumps(report).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(report['title'])} report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 720px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: .5rem; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: .5rem .8rem; min-width: 7rem; }}
.card b {{ display: block; font-size: 1.3rem; }} .card span {{ color: #666; font-size: .8rem; }}
h2 {{ font-size: 1rem; margin-top: 1.5rem; }}
</style></head>
<body>
<h1>{html.escape(report['title'])}</h1>
<p>{html.escape(report['period'])}</p>
<div class=cards>{cards}</div>
<h2>Calls by hour of day</h2><div class=chart id="by-hour"></div>
<h2>Outcomes (calls by status)</h2><div class=chart id="outcomes"></div>
<h2>Answer rate by day</h2><div class=chart id="answer-rate"></div>
<h2>Funnel</h2><div class=chart id="funnel"></div>
<script type="application/json" id="report-data">{data}</script>
<script>{SCRIPT}</script>
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=os.environ.get("OUTDIAL_API_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("OUTDIAL_API_KEY"))
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True, help="first UTC day")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, required=True, help="day after the last")
    parser.add_argument("--campaign", default=None)
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--out", default="report.html")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("an API key is needed: --key or OUTDIAL_API_KEY")
    if args.end <= args.first:
        parser.error("--to must be after --from")
    report = collect(http_fetch(args.api, args.key), args.first, args.end, campaign=args.campaign,
                     zone=args.timezone)
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(render(report))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
