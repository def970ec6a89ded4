"""Campaign callbacks: each finished contact is POSTed to the campaign's
callbackUrl, signed, and re-sent with backoff until the receiver says 2xx.

Signature (like Stripe's and ElevenLabs'): header
`Outdial-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
with the campaign's callbackSecret. Receivers check the HMAC and that `t` is
recent, and de-duplicate on `Outdial-Delivery` (the same id on every re-send).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any, Callable

from .. import clock
from ..models.campaign import Campaign, CampaignContact
from ..repositories.callback_deliveries import CallbackDeliveryRepository
from ..signing import timestamped_hmac

log = logging.getLogger(__name__)

BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1),
           timedelta(hours=6), timedelta(hours=12))
MAX_ATTEMPTS = len(BACKOFF) + 1
SEND_TIMEOUT_SECONDS = 5
CLAIM = timedelta(seconds=60)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={timestamped_hmac(secret, timestamp, body)}"


def default_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import requests  # only the sender needs it

    return requests.post(url, data=body, headers=headers, timeout=SEND_TIMEOUT_SECONDS,
                         allow_redirects=False).status_code


class CallbackService:
    def __init__(self, deliveries: CallbackDeliveryRepository, *, secret_for: Callable[[str], str | None],
                 post: Callable[[str, bytes, dict[str, str]], int] = default_post):
        self._deliveries = deliveries
        self._secret_for = secret_for      # campaign id -> its callbackSecret
        self._post = post

    def contact_finished(self, campaign: Campaign, row: CampaignContact) -> None:
        if not campaign.config.callback_url:
            return
        now = clock.now()
        payload = {
            "type": "campaign.contact.finished",
            "campaignId": campaign.id,
            "campaignContactId": row.id,
            "contactId": row.contact_id,
            "phone": row.phone,
            "status": row.status,
            "skipReason": row.skip_reason,
            "attempts": row.attempts,
            "callResults": [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in row.call_results],
            "customData": row.custom_data,
            "finishedAt": now.isoformat(),
        }
        # One delivery per contact and campaign: a repeated hook adds nothing.
        self._deliveries.add({"_id": f"cbd_{row.id.removeprefix('cc_')}", "campaignId": campaign.id,
                              "url": campaign.config.callback_url, "body": json.dumps(payload, default=str),
                              "status": "pending", "attempts": 0, "nextAttemptAt": now, "createdAt": now})

    def deliver_due(self, now: datetime | None = None, *, limit: int = 200) -> dict[str, int]:
        now = now or clock.now()
        counts = {"delivered": 0, "retrying": 0, "failed": 0}
        for delivery_id in self._deliveries.due_ids(now=now, limit=limit):
            delivery = self._deliveries.claim(delivery_id, now=now, until=now + CLAIM)
            if delivery is not None:
                counts[self._send(delivery, now)] += 1
        return counts

    def _send(self, delivery: dict[str, Any], now: datetime) -> str:
        body = delivery["body"].encode()
        secret = self._secret_for(delivery["campaignId"]) or ""
        headers = {"Content-Type": "application/json", "User-Agent": "outdial-callbacks/1",
                   "Outdial-Delivery": delivery["_id"], "Outdial-Signature": sign(secret, int(now.timestamp()), body)}
        try:
            status = self._post(delivery["url"], body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except Exception as exc:   # any network failure is retried the same way
            error = f"{type(exc).__name__}: {exc}"[:300]
        attempts = delivery["attempts"]
        if error is None:
            self._deliveries.finish(delivery["_id"], {"status": "delivered", "deliveredAt": now, "lastError": None})
            return "delivered"
        if attempts >= MAX_ATTEMPTS:
            log.warning("callback %s to %s given up after %d attempts: %s", delivery["_id"], delivery["url"],
                        attempts, error)
            self._deliveries.finish(delivery["_id"], {"status": "failed", "lastError": error})
            return "failed"
        self._deliveries.finish(delivery["_id"], {"nextAttemptAt": now + BACKOFF[attempts - 1], "lastError": error})
        return "retrying"
