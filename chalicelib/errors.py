"""Errors the API turns into `{"error": {"code", "message", "field"?}}`."""
from __future__ import annotations


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}

    def to_body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


class BadRequest(AppError):
    status, code = 400, "bad_request"


class InvalidSignature(AppError):
    status, code = 403, "invalid_signature"


class UnverifiedWebhook(AppError):
    """A webhook whose signature does not verify (ElevenLabs answers are 401)."""

    status, code = 401, "invalid_signature"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class ValidationFailed(AppError):
    status, code = 422, "validation_error"


class InvalidRows(ValidationFailed):
    """Some rows of a bulk request are invalid: each is listed with its index,
    field and reason, and nothing was created."""

    code = "invalid_rows"

    def __init__(self, message: str, rows: list[dict], *, field: str | None = None):
        super().__init__(message, field=field)
        self.rows = rows

    def to_body(self) -> dict:
        body = super().to_body()
        body["error"]["rows"] = self.rows
        return body


class ServiceUnavailable(AppError):
    status, code = 503, "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5):
        super().__init__(message, headers={"Retry-After": str(retry_after)})
