"""Django's SQLite backend, telling Django how many parameters a statement may really hold.

Django 5.2 assumes 999 (SQLite's limit before 3.32), so it splits every bulk write on SQLite
into chunks of 999 parameters: accepting 2,500 roles cost dozens of statements where
PostgreSQL needs one. SQLite 3.32+ allows 32,766 (Debian's build 250,000), and Python 3.11
can ask the connection. Django 6.0 does the same (ticket #36143); drop this module then.
"""

import sqlite3

from django.db.backends.sqlite3 import base, features


class DatabaseFeatures(features.DatabaseFeatures):
    @property
    def max_query_params(self) -> int:  # type: ignore[override]
        self.connection.ensure_connection()
        return self.connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
