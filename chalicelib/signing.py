"""The timestamped HMAC both webhook schemes use: ElevenLabs signs its
post-call webhooks this way (`t=…,v0=…`), and we sign campaign callbacks
the same way (`t=…,v1=…`): HMAC-SHA256 of "<unix seconds>.<body>"."""
from __future__ import annotations

import hashlib
import hmac


def timestamped_hmac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
