"""HTTP plumbing shared by the blueprints: JSON in, JSON out, one error shape."""
from __future__ import annotations

import functools
import json
import logging
from datetime import datetime
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qsl

from chalice import Response
from pydantic import BaseModel, ValidationError
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from ..errors import AppError, BadRequest, ServiceUnavailable, ValidationFailed
from ..repositories.base import InvalidCursor
from ..settings import ConfigurationError

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(body, default=str), status_code=status,
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


def parse_body(request, model: type[M]) -> M:
    raw = request.raw_body
    if not raw:
        raise BadRequest("a JSON request body is required")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise ValidationFailed(_message(first), field=field) from None


def _message(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "this field is required"
    return error["msg"].removeprefix("Value error, ")


def parse_form(request) -> dict[str, str]:
    """A form-encoded webhook body as a flat dict. Blank values are kept:
    they are part of what the carrier signed."""
    body = (request.raw_body or b"").decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def query(request) -> dict[str, str]:
    return dict(request.query_params or {})


def page_params(params: dict[str, str]) -> tuple[int, str | None]:
    raw = params.get("limit")
    limit = DEFAULT_PAGE_SIZE
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
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
    return value


def page_body(page, render: Callable[[Any], dict]) -> dict:
    return {"items": [render(item) for item in page.items], "nextCursor": page.next_cursor}


def uniform_errors(event, get_response):
    """HTTP middleware: errors Chalice produces itself (415, 405, 400 on
    binary negotiation) get the same JSON shape as ours."""
    response = get_response(event)
    if response.status_code >= 400 and isinstance(response.body, dict) and "Code" in response.body:
        code = _snake(response.body["Code"])
        response.body = {"error": {"code": code, "message": response.body.get("Message", "")}}
    return response


def _snake(name: str) -> str:
    out = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")
    return out.removesuffix("_error") if out.endswith("_error") and out != "error" else out
