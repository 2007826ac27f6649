"""Saving many rows' changed fields in a few statements.

Django's `bulk_update` builds one `CASE WHEN pk=... THEN ...` per row and field: for 2,500
roles and 5 fields it spends seconds building expressions in Python, and the database
evaluates a 2,500-branch CASE for every row. Here each batch of rows is one
`UPDATE ... FROM (VALUES ...)` joined on the primary key: linear on both sides. The libraries
that do this (django-pgbulk, django-bulk-load) are PostgreSQL-only, and SQLite (3.33+) must
behave the same, so this is the small portable version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, router
from django.db.models import Model


def bulk_update_fields(objs: Iterable[Model], field_names: Sequence[str]) -> int:
    """Write `field_names` of every object to its row (as `bulk_update` does: no `save()`,
    no signals). Returns the number of rows updated."""
    objs = list({obj.pk: obj for obj in objs}.values())  # a row once, its last object wins
    if not objs:
        return 0
    model = type(objs[0])
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names]
    connection = connections[router.db_for_write(model)]
    # One statement on PostgreSQL; SQLite caps its parameters, so it gets as many as Django's
    # own bulk writes would.
    limit = connection.features.max_query_params
    rows = limit // (len(fields) + 1) if limit else len(objs)
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), rows):
            sql, params = _update_sql(connection, meta, fields, objs[start : start + rows])
            cursor.execute(sql, params)
            updated += cursor.rowcount
    return updated


def _update_sql(connection, meta, fields, objs) -> tuple[str, list]:
    qn = connection.ops.quote_name
    pk = meta.pk
    columns = [pk, *fields]
    # PostgreSQL types a VALUES column from its contents (NULL or a string would be text); SQLite
    # has no such types, and a CAST there would change values (a datetime cast is numeric).
    if connection.vendor == "postgresql":
        cells = [f"CAST(%s AS {f.db_type(connection)})" for f in columns]
    else:
        cells = ["%s"] * len(columns)
    row = "(" + ", ".join(cells) + ")"
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs for field in columns
    ]
    table = qn(meta.db_table)
    assignments = ", ".join(f"{qn(f.column)} = v.column{i}" for i, f in enumerate(fields, start=2))
    sql = (
        f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(objs))}) AS v "
        f"WHERE {table}.{qn(pk.column)} = v.column1"
    )
    return sql, params
