"""HTTP plumbing shared by the blueprints: JSON in, JSON out, one error shape."""
from __future__ import annotations

import functools
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qsl

from chalice import Response
from pydantic import BaseModel, ValidationError
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from ..errors import AppError, BadRequest, PayloadTooLarge, ServiceUnavailable, ValidationFailed
from ..repositories.base import InvalidCursor
from ..logs import log_context
from ..settings import ConfigurationError

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
MAX_BODY_BYTES = 256 * 1024   # JSON request bodies; bulk imports have their own limits


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body, default=str, allow_nan=False), status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def error_response(error: AppError) -> Response:
    return json_response(error.to_body(), status=error.status, headers=error.headers)


def api_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every failure of a view into the JSON error shape; never a bare 500."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except AppError as exc:
            return error_response(exc)
        except InvalidCursor as exc:
            return error_response(ValidationFailed(str(exc), field="cursor"))
        except (ServerSelectionTimeoutError, ConnectionFailure):
            log.exception("database unavailable")
            return error_response(ServiceUnavailable("the database is unavailable, try again shortly"))
        except ConfigurationError as exc:
            log.error("%s", exc)
            return error_response(ServiceUnavailable("the service is misconfigured"))
        except Exception:
            log.exception("unhandled error")
            return json_response({"error": {"code": "internal_error", "message": "internal error"}}, status=500)

    return wrapper


def parse_body(request, model: type[M], *, max_bytes: int = MAX_BODY_BYTES) -> M:
    return validate(model, read_json(request, max_bytes=max_bytes))


def read_json(request, *, max_bytes: int = MAX_BODY_BYTES) -> dict:
    """The request's JSON object (not yet validated against a model)."""
    try:
        raw = request.raw_body
    except UnicodeError:
        raise BadRequest("the request body is not valid UTF-8") from None
    if not raw:
        raise BadRequest("a JSON request body is required")
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the request body is larger than {max_bytes // 1024} KB")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def validate(model: type[M], data: Any) -> M:
    """`data` as `model`, or ValidationFailed naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(error_message(first), field=error_field(first)) from None


def error_field(error: dict) -> str | None:
    return ".".join(str(part) for part in error["loc"]) or None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def error_message(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "this field is required"
    return error["msg"].removeprefix("Value error, ")


class FormParams(dict):
    """A form body: reads as a dict of each key's last value, while `getall`
    gives every value of a repeated key (as the signature check needs)."""

    def __init__(self, pairs: list[tuple[str, str]]):
        super().__init__(pairs)
        self._all: dict[str, list[str]] = {}
        for key, value in pairs:
            self._all.setdefault(key, []).append(value)

    def getall(self, key: str) -> list[str]:
        return self._all[key]

    def payload(self) -> dict:
        """For storage: repeated keys keep all their values."""
        return {key: values if len(values) > 1 else values[0] for key, values in self._all.items()}


def parse_form(request) -> FormParams:
    """A form-encoded webhook body. Blank values are kept: they are part of
    what the carrier signed."""
    body = (request.raw_body or b"").decode("utf-8", errors="replace")
    return FormParams(parse_qsl(body, keep_blank_values=True))


def query(request) -> dict[str, str]:
    return dict(request.query_params or {})


def page_params(params: dict[str, str]) -> tuple[int, str | None]:
    raw = params.get("limit")
    limit = DEFAULT_PAGE_SIZE
    if raw is not None:
        if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise ValidationFailed(f"must be an integer from 1 to {MAX_PAGE_SIZE}", field="limit")
        limit = int(raw)
    return limit, params.get("cursor") or None


def query_datetime(params: dict[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ValidationFailed("must be an ISO-8601 date-time", field=name) from None
    if value.tzinfo is None:
        raise ValidationFailed("must include a UTC offset or 'Z'", field=name)
    try:
        value = value.astimezone(timezone.utc)
    except OverflowError:
        value = None
    if value is None or not 1970 <= value.year <= 9999:
        raise ValidationFailed("must be between 1970 and 9999", field=name)
    return value


def page_body(page, render: Callable[[Any], dict]) -> dict:
    return {"items": [render(item) for item in page.items], "nextCursor": page.next_cursor}


def uniform_errors(event, get_response):
    """HTTP middleware: errors Chalice produces itself (415, 405, 400 on
    binary negotiation) get the same JSON shape as ours; every log line of the
    request carries its id."""
    request_id = (getattr(event, "context", None) or {}).get("requestId")
    with log_context(requestId=request_id):
        response = get_response(event)
    if response.status_code >= 400 and isinstance(response.body, dict) and "Code" in response.body:
        code = _snake(response.body["Code"])
        response.body = {"error": {"code": code, "message": response.body.get("Message", "")}}
    return response


def _snake(name: str) -> str:
    out = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")
    return out.removesuffix("_error") if out.endswith("_error") and out != "error" else out
