"""Every query the application issued during this test run is served by an
index declared in a migration (see tests/query_log.py for the rule)."""
from __future__ import annotations

import pytest

from tests.query_log import QUERY_LOG, QueryShape, is_covered


def first_keys(db) -> dict[str, set[str]]:
    """The first field of every index of every collection, after all migrations."""
    keys: dict[str, set[str]] = {}
    for name in db.list_collection_names():
        for spec in db[name].index_information().values():
            keys.setdefault(name, set()).add(spec["key"][0][0])
    return keys


@pytest.mark.after_all_tests
def test_every_query_the_app_issued_is_covered_by_a_migration_index(db):
    shapes = list(QUERY_LOG.shapes.values())
    if len(shapes) < 10:
        pytest.skip(f"only {len(shapes)} application queries recorded: run this with the rest of the suite")
    indexes = first_keys(db)
    uncovered = [s for s in shapes if not is_covered(s, indexes.get(s.collection, set()))]
    assert not uncovered, "queries without an index:\n" + "\n".join(s.describe() for s in uncovered)


@pytest.mark.parametrize("filter_, sort, covered", [
    ('{"status": "str", "enqueuedAt": {"$lt": "datetime"}}', (), True),
    ('{"$and": [{"agentId": "str"}, {"$or": [{"createdAt": {"$lt": "datetime"}}, '
     '{"createdAt": "datetime", "_id": {"$lt": "str"}}]}]}', (), True),
    ('{"$or": [{"createdAt": {"$lt": "datetime"}}, {"_id": "str"}]}', (), False),
    ('{}', ("createdAt", "_id"), True),
    ('{"to": "str"}', (), False),
    ('{}', (), False),
    ('{"_id": {"$in": ["str"]}}', (), True),
])
def test_the_coverage_rule(filter_, sort, covered):
    shape = QueryShape("calls", filter_, sort, "here")
    assert is_covered(shape, {"status", "createdAt", "agentId"}) is covered
