"""Records the shape of every query the application code issues while the
test suite runs (a pymongo command listener), so a test can check that each
one is served by an index a migration declares.

A query counts as the application's when a frame of `chalicelib/` is on the
stack (tests' own inspection queries are left out). A query is covered when an
index starts with a field the filter constrains (or, with no filter, the
first sort field), or it is by `_id`. That is the rule MongoDB's planner needs
to use an index at all; it does not judge how selective the index is.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from pymongo import monitoring

APP_DIR = os.sep + "chalicelib" + os.sep
CONFORMANCE = os.sep.join(("", "tests", "conformance", ""))
READS = {"find", "aggregate", "count", "distinct", "findAndModify", "update", "delete"}
# Tiny bookkeeping collections scanned whole on purpose.
SCANNED_WHOLE = {"migrations"}


@dataclass(frozen=True)
class QueryShape:
    collection: str
    filter: str        # the filter with values replaced by their type names (JSON)
    sort: tuple[str, ...]
    where: str         # the application frame that issued it

    def describe(self) -> str:
        return f"{self.collection} filter={self.filter} sort={list(self.sort)} ({self.where})"


def _shape_of(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape_of(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape_of(v) for v in value[:1]]
    return type(value).__name__


def _app_frame() -> str | None:
    """The innermost application frame issuing this query; None for queries of
    tests themselves, migrations, and the conformance tests (which exercise
    the server on scratch collections through the repositories' helpers)."""
    found = None
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if CONFORMANCE in filename:
            return None
        if found is None and APP_DIR in filename and "migrations" not in filename:
            found = f"{filename.split(APP_DIR)[-1]}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back
    return found


def queries_in(command: dict[str, Any]) -> list[tuple[dict, list[str]]]:
    """(filter, sort fields) of each query a command carries."""
    name = next(iter(command))
    if name == "find":
        if not command.get("filter") and not command.get("sort") and command.get("limit") == 1:
            return []       # a peek at any one document (is the collection empty?)
        return [(command.get("filter") or {}, list(command.get("sort") or {}))]
    if name == "aggregate":
        pipeline = command.get("pipeline") or [{}]
        first = pipeline[0] if pipeline else {}
        return [(first.get("$match", {}), list(first.get("$sort", {})))]
    if name in ("count", "distinct"):
        return [(command.get("query") or {}, [])]
    if name == "findAndModify":
        return [(command.get("query") or {}, list(command.get("sort") or {}))]
    if name == "update":
        return [(u.get("q") or {}, []) for u in command.get("updates", [])]
    if name == "delete":
        return [(d.get("q") or {}, []) for d in command.get("deletes", [])]
    return []


class QueryLog(monitoring.CommandListener):
    def __init__(self):
        self.shapes: dict[tuple, QueryShape] = {}
        self._lock = threading.Lock()

    def started(self, event):
        if event.command_name not in READS:
            return
        where = _app_frame()
        if where is None:
            return
        collection = event.command[event.command_name]
        for query, sort in queries_in(event.command):
            shape = QueryShape(collection, json.dumps(_shape_of(query), sort_keys=True), tuple(sort), where)
            with self._lock:
                self.shapes.setdefault((collection, shape.filter, shape.sort), shape)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def constrained_fields(query: dict[str, Any]) -> set[str]:
    """Fields a filter constrains for sure: its own, those of its `$and`
    clauses, and those every branch of an `$or` constrains."""
    fields: set[str] = set()
    for key, value in query.items():
        if key == "$and":
            for clause in value:
                fields |= constrained_fields(clause)
        elif key == "$or":
            branches = [constrained_fields(branch) for branch in value]
            fields |= set.intersection(*branches) if branches else set()
        elif not key.startswith("$"):
            fields.add(key)
    return fields


def is_covered(shape: QueryShape, first_keys: set[str]) -> bool:
    query = json.loads(shape.filter)
    fields = constrained_fields(query)
    if "_id" in fields or fields & first_keys:
        return True
    if not fields and shape.sort:
        return shape.sort[0] in first_keys
    return not fields and shape.collection in SCANNED_WHOLE


QUERY_LOG = QueryLog()
