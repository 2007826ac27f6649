"""Hand-written reads that run hundreds of times a second (the polled faces), planned once.

Django binds parameters on the client (psycopg's ClientCursor), so PostgreSQL parses and plans
every statement again: for GET status's four-table join, planning cost about 0.6 ms of the
database's CPU per poll and running it 0.1 ms. A statement sent through `prepared_cursor` is
prepared on its connection the first time and only executed after that (psycopg keeps the
prepared statements of each connection; the pool keeps the connections). Nothing else changes:
the statement still goes through Django's cursor wrapper (query logging, execute wrappers,
database errors), and on SQLite, whose module already caches compiled statements per
connection, it is Django's plain cursor.

Only for fixed SQL text with %s parameters: each distinct text is one prepared statement per
connection (psycopg keeps at most 100, the least recently used dropped first).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


class PreparedCursor(psycopg.Cursor):
    """Server-side binding, every statement prepared (Django leaves psycopg's automatic
    preparation off, to keep connection poolers working; these few are asked for by name)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


NEVER_BY_ITSELF = 2**31


@contextmanager
def prepared_cursor() -> Iterator:
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django sets None, and psycopg then prepares nothing, even when asked. A threshold no
        # statement reaches: psycopg still prepares none by itself (and Django's own cursors
        # bind on the client, which never prepares), only those asked for here.
        raw.prepare_threshold = NEVER_BY_ITSELF
    with connection.wrap_database_errors:
        # _prepare_cursor is what connection.cursor() wraps its own cursors with.
        cursor = connection._prepare_cursor(PreparedCursor(raw))  # type: ignore[attr-defined]
    with cursor:
        yield cursor
