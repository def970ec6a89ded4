"""Repositories: the only modules that speak pymongo.

Filters are written in forms that behave the same on MongoDB Atlas and on the
embedded nx-27017 server (see docs/embedded-mongodb.md): string ids, no `$or`
mixed with other top-level keys (it goes through `and_()`), single-document
atomic updates.
"""
