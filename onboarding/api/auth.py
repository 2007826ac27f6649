"""Token authentication that remembers a token's user for a few seconds.

Hundreds of pollers each asking for a status several times a second would otherwise cost a
token query (and, for a CSM, two permission queries) per request. A token deleted or a user
deactivated or given other permissions takes effect within API_AUTH_CACHE_SECONDS in every
server process; a CSM's companies are not cached (each query is scoped in the database).
"""

import hashlib
import pickle
import time

from django.conf import settings
from django.core.cache import caches
from rest_framework.authentication import TokenAuthentication


def _cache_key(key: str) -> str:
    return "token:" + hashlib.sha256(key.encode()).hexdigest()


def remembered_token_user(authorization: str | None):
    """The user of an `Authorization: Token <key>` header if this process looked the token up
    less than API_AUTH_CACHE_SECONDS ago (and found it valid), else None: nothing is queried."""
    parts = (authorization or "").split()
    if len(parts) != 2 or parts[0].lower() != "token":
        return None
    user, expires = _lane_users.get(_cache_key(parts[1]), (None, 0.0))
    return user if time.monotonic() < expires else None


# What remembered_token_user reads: {cache key: (user, until)}, filled with the cache entry and
# lapsing with it. A plain dict, because the Django cache unpickles a whole user on every read,
# which was a tenth of a poll's cost. The user kept here is a copy of its own, only ever read.
_lane_users: dict[str, tuple[object, float]] = {}


def forget_tokens() -> None:
    _lane_users.clear()


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        cache = caches["status"]
        cache_key = _cache_key(key)
        found = cache.get(cache_key)
        if found is None:
            found = super().authenticate_credentials(key)  # raises for an unknown or inactive one
            user = found[0]
            if not user.is_superuser:
                user.get_all_permissions()  # kept on the user object: no permission queries later
            cache.set(cache_key, found, settings.API_AUTH_CACHE_SECONDS)
            if len(_lane_users) >= settings.STATUS_CACHE_ENTRIES:
                _lane_users.clear()  # at worst every token is looked up once more
            until = time.monotonic() + settings.API_AUTH_CACHE_SECONDS
            _lane_users[cache_key] = (pickle.loads(pickle.dumps(user)), until)
        return found
