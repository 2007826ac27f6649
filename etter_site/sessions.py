"""Database sessions that a server process remembers for a few seconds.

Each open status page polls its live partial every few seconds: reading the session row for
every poll was one of the queries a 304 could not do without. The contract is the API's
(onboarding/api/auth.py): the database stays the record, and a session deleted there (a logout
in another server process) stops working within API_AUTH_CACHE_SECONDS. A logout, login or any
change saved by this process forgets its copy at once.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.core.cache import caches
from django.utils import timezone


def _cache_key(session_key: str) -> str:
    return "session:" + hashlib.sha256(session_key.encode()).hexdigest()


class SessionStore(DbSessionStore):
    def load(self) -> dict:
        cache = caches["status"]
        key = _cache_key(self.session_key) if self.session_key else None
        # The cache pickles: every request gets its own copy of the dict to change.
        found = cache.get(key) if key else None
        if found is not None and found[1] > timezone.now():
            return found[0]
        # The parent's own read (private to Django's db backend, so django-stubs does not declare it).
        session = self._get_session_from_db()  # type: ignore[attr-defined]
        if session is None:
            return {}  # the parent's load() also forgets the key: a new one is made on save
        data = self.decode(session.session_data)
        if key:
            cache.set(key, (data, session.expire_date), settings.API_AUTH_CACHE_SECONDS)
        return data

    def save(self, must_create: bool = False) -> None:
        super().save(must_create)
        # Forgotten rather than replaced: the next load reads what the database now holds.
        if self.session_key:
            caches["status"].delete(_cache_key(self.session_key))

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        super().delete(session_key)
        if key:
            caches["status"].delete(_cache_key(key))
