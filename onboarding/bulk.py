"""Writing many rows in a few statements, on both databases.

Django's `bulk_update` builds one `CASE WHEN pk=... THEN ...` per row and field: for 2,500
roles and 5 fields it spends seconds building expressions in Python, and the database
evaluates a 2,500-branch CASE for every row. Here the rows are one `UPDATE ... FROM` joined on
the primary key: linear on both sides (PostgreSQL: the columns as arrays, unnested; SQLite
3.33+: a VALUES list). New rows go by COPY on PostgreSQL (`insert_rows`, `create_objects`).
The libraries that do this (django-pgbulk, django-bulk-load) are PostgreSQL-only, and SQLite
must behave the same, so this is the small portable version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import repeat
from uuid import UUID

from django.db import connections, router
from django.db.models import Model
from django.utils import timezone
from psycopg.types.json import Json, Jsonb


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
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(*_update_from_arrays_sql(connection, meta, fields, objs))
            return cursor.rowcount
    # SQLite caps its parameters: as many statements as Django's own bulk writes would take.
    limit = connection.features.max_query_params
    rows = limit // (len(fields) + 1) if limit else len(objs)
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), rows):
            sql, params = _update_from_values_sql(connection, meta, fields, objs[start : start + rows])
            cursor.execute(sql, params)
            updated += cursor.rowcount
    return updated


def _update_from_arrays_sql(connection, meta, fields, objs) -> tuple[str, list]:
    """PostgreSQL: one array a column, unnested into rows: a handful of parameters, not one a
    value (for 2,500 roles, half the time of a VALUES list of 15,000)."""
    qn = connection.ops.quote_name
    columns = [meta.pk, *fields]
    arrays = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs] for field in columns
    ]
    names = [f"c{i}" for i in range(len(columns))]
    typed = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    table = qn(meta.db_table)
    assignments = ", ".join(f"{qn(f.column)} = v.{name}" for f, name in zip(fields, names[1:], strict=True))
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({typed}) AS v({', '.join(names)}) "
        f"WHERE {table}.{qn(meta.pk.column)} = v.c0"
    )
    return sql, arrays


def _update_from_values_sql(connection, meta, fields, objs) -> tuple[str, list]:
    """SQLite: the rows as a VALUES list joined on the primary key."""
    qn = connection.ops.quote_name
    columns = [meta.pk, *fields]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs for field in columns
    ]
    table = qn(meta.db_table)
    assignments = ", ".join(f"{qn(f.column)} = v.column{i}" for i, f in enumerate(fields, start=2))
    sql = (
        f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(objs))}) AS v "
        f"WHERE {table}.{qn(meta.pk.column)} = v.column1"
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
    """INSERT one row per dict of {field name or attname ("run" or "run_id"): value}; fields
    not named take their default.

    For the many rows nobody reads back at once (a push's 9 steps per run: 22,500 rows for
    2,500 roles): Django's `bulk_create` builds a model instance per row and prepares every
    value of every field (seconds, for that many), then sends one statement with 200,000
    parameters. Here the values are gathered a column at a time, a field's default and each
    distinct value are prepared once, and PostgreSQL takes the rows by COPY (psycopg's, in C);
    SQLite by executemany. No ids come back and no signals are sent, as with `bulk_create`.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    given = {name for row in rows for name in row}
    unknown = given - {key for f in fields for key in (f.name, f.attname)}
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    given_values = {f: _values(rows, f.name, f.attname) for f in fields if {f.name, f.attname} & given}
    _insert(model, connection, given_values, len(rows))


def _values(rows: Sequence[dict], name: str, attname: str) -> list:
    """A field's value in each row, by its name or its attname (_MISSING where neither)."""
    if name == attname:
        return [row.get(name, _MISSING) for row in rows]
    return [row[name] if name in row else row.get(attname, _MISSING) for row in rows]


def insert_columns(model: type[Model], columns: dict[str, Sequence]) -> None:
    """`insert_rows` given a column at a time: {field name: its values, one a row}, every
    column as long; fields not named take their default. For the most rows of all (a push's
    steps), without a dict per row."""
    counts = {len(values) for values in columns.values()}
    if len(counts) != 1:
        raise ValueError(f"columns of different lengths: {sorted(counts)}")
    (count,) = counts
    if not count:
        return
    fields = {f.name: f for f in model._meta.concrete_fields if not f.primary_key}
    unknown = set(columns) - set(fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    connection = connections[router.db_for_write(model)]
    _insert(model, connection, {fields[name]: list(values) for name, values in columns.items()}, count)


def _insert(model: type[Model], connection, given: dict, count: int, ids: Sequence[int] = ()) -> None:
    """INSERT `count` rows: {field: its values, one a row} for the fields given (_MISSING:
    the default), the default for every other field, and `ids` as the primary keys if given."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = [f for f in fields if f in given]
    cells: list = [_column(f, given[f], connection) for f in columns]
    defaults = [f for f in fields if f not in given]
    cells += [repeat(_as_text(_default(f, connection)), count) for f in defaults]
    if ids:
        columns.insert(0, model._meta.pk)
        cells.insert(0, list(ids))
    values = list(zip(*cells, strict=False))  # the defaults repeat exactly `count` times
    columns += defaults
    qn = connection.ops.quote_name
    table, names = qn(model._meta.db_table), ", ".join(qn(str(f.column)) for f in columns)
    # COPY is psycopg's own call, outside Django's cursor wrapper: its errors (a unique
    # violation) are turned into Django's here, so callers catch IntegrityError either way.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", values)


_MISSING = object()


def _column(field, given: list, connection) -> list:
    """A field's values, one a row, as the database takes them: a missing one is the default,
    an auto_now(_add) one left None is now (as pre_save would), the rest prepared by the field
    (each distinct value once) unless the database takes it as it is (AS_GIVEN)."""
    missing = [v is _MISSING for v in given]
    if any(missing):  # the default as given (a new one a row, as a callable default gives)
        given = [field.get_default() if m else v for v, m in zip(given, missing, strict=True)]
    if _stamped(field):
        now = timezone.now()
        given = [now if v is None else v for v in given]
    if field.get_internal_type() in AS_GIVEN:
        return given
    prepared: dict = {}

    def prepare(value):
        key = _same_value_key(value)
        if key is None:
            return _as_text(field.get_db_prep_save(value, connection))
        if key not in prepared:
            prepared[key] = _as_text(field.get_db_prep_save(value, connection))
        return prepared[key]

    return [prepare(v) for v in given]


def _same_value_key(value) -> tuple | None:
    """A key that only values stored identically share, or None (prepare it each time). By
    type too: True, 1 and 1.0 are equal in Python and not in JSON; times by their zone and fold
    as well (equal instants may still read differently). Floats are not shared: 0.0 == -0.0."""
    if value is None or type(value) in (str, int, bool, UUID):
        return (type(value), value)
    if isinstance(value, datetime):
        return (type(value), value, value.tzinfo, value.fold)
    if type(value) in (dict, list) and not value:
        return (type(value), "empty")
    return None


def _as_text(value):
    """A JSON value as the text COPY takes, serialized here once: psycopg would serialize the
    same wrapper again for every row it is in (22,500 step outputs of `{}` in a big push)."""
    if isinstance(value, Json | Jsonb):
        return (value.dumps or json.dumps)(value.obj)
    return value


def _stamped(field) -> bool:
    """Whether the field is an auto_now(_add) time, which a new row takes as now."""
    return getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)


def _default(field, connection):
    """A field's default, prepared, for a row that does not name it (auto_now(_add): now)."""
    return field.get_db_prep_save(timezone.now() if _stamped(field) else field.get_default(), connection)


def _attributes(objs: Sequence[Model]) -> dict:
    """{field: the objects' values of it}, for every field but the primary key."""
    fields = [f for f in objs[0]._meta.concrete_fields if not f.primary_key]
    return {f: [getattr(obj, f.attname) for obj in objs] for f in fields}


def create_objects(objs: Sequence[Model]) -> None:
    """`bulk_create` for many new instances of one model that callers need the ids of (roles,
    their documents, runs): plain values only, no signals, as with `bulk_create`.

    On PostgreSQL the ids come from the table's own sequence in one query and the rows go by
    COPY: `bulk_create` prepares every value of every field in Python and sends one INSERT with
    tens of thousands of parameters, which for 2,500 runs costs several times as long. Elsewhere
    (SQLite) it is `bulk_create`, which returns the ids by RETURNING.
    After it, each object has its id, is saved (`_state.adding` False) and has its
    auto_now(_add) times, as after `bulk_create`."""
    if not objs:
        return
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    meta = model._meta
    now = timezone.now()
    for field in meta.concrete_fields:
        if _stamped(field):
            for obj in objs:  # a new row's time is now, whatever was set (as pre_save does)
                setattr(obj, field.attname, now)
    with connection.cursor() as cursor:
        cursor.execute(
            # The sequence is looked up once (an uncorrelated subquery), not once a row.
            "SELECT nextval((SELECT pg_get_serial_sequence(%s, %s)::regclass)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        ids = sorted(row[0] for row in cursor.fetchall())  # ascending, as bulk_create's
    _insert(model, connection, _attributes(objs), len(objs), ids)
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias
