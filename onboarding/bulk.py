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
from django.utils import timezone


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


# Fields whose given values (ints, strings, ids, booleans, None) both databases take as they are;
# any other field's values (JSON, times) are prepared by the field, as Django would.
AS_GIVEN = {
    *("CharField", "TextField", "SlugField", "BooleanField", "ForeignKey"),
    *("IntegerField", "BigIntegerField", "SmallIntegerField"),
    *("PositiveIntegerField", "PositiveSmallIntegerField", "PositiveBigIntegerField"),
}


def insert_rows(model: type[Model], rows: Sequence[dict]) -> None:
    """INSERT one row per dict of {field name: value}; fields not named take their default.

    For the many rows nobody reads back at once (a push's 9 steps per run: 22,500 rows for
    2,500 roles): Django's `bulk_create` builds a model instance per row and prepares every
    value of every field (seconds, for that many), then sends one statement with 200,000
    parameters. Here each field's default is prepared once, only the values given per row are
    prepared, and PostgreSQL takes the rows by COPY (psycopg's, in C); SQLite by executemany.
    No ids come back and no signals are sent, as with `bulk_create`.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    given = {name for row in rows for name in row}
    unknown = given - {f.name for f in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    defaults = {f.name: defaults_for(f, connection) for f in fields if f.name not in given}
    per_row = [f for f in fields if f.name in given]
    prepare = [f.get_internal_type() not in AS_GIVEN for f in per_row]
    now = timezone.now()  # for auto_now(_add) fields left None, as their pre_save would
    stamped = [getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) for f in per_row]
    values = [
        tuple(
            (
                f.get_db_prep_save(now if stamp and row[f.name] is None else row[f.name], connection)
                if prep
                else row[f.name]
            )
            if f.name in row
            else defaults_for(f, connection)
            for f, prep, stamp in zip(per_row, prepare, stamped, strict=True)
        )
        + tuple(defaults.values())
        for row in rows
    ]
    columns = [*per_row, *(f for f in fields if f.name in defaults)]
    qn = connection.ops.quote_name
    table, names = qn(model._meta.db_table), ", ".join(qn(str(f.column)) for f in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", values)


def defaults_for(field, connection):
    """A field's default, prepared, for a row that does not name it (auto_now(_add): now)."""
    now = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    return field.get_db_prep_save(timezone.now() if now else field.get_default(), connection)


def insert_objects(objs: Sequence[Model]) -> None:
    """`insert_rows` for unsaved model instances of one model (their ids stay None), when only
    plain values are set on them (no expressions)."""
    if not objs:
        return
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    insert_rows(model, [{f.name: getattr(obj, f.attname) for f in fields} for obj in objs])
