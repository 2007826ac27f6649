"""Session authentication that remembers a user (with their permissions) for a few seconds.

A polled status page would otherwise pay the user's row and two permission queries on every
poll. The contract is the API's (onboarding/api/auth.py): a user deactivated, given other
permissions or a new password takes effect within API_AUTH_CACHE_SECONDS in every server
process, and at once in the process that saved the change (the signals below).

Django's own get_user flushes a session whose hash does not match the user's password. A
remembered user may be older than the session (the password changed in another process, and
this session was given the new hash there): so a remembered user is used only when the hash
matches, and otherwise forgotten and checked afresh by Django, which then decides.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.core.cache import caches
from django.db.models.signals import m2m_changed, post_save
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

BACKEND = "etter_site.auth.CachedModelBackend"
# Sessions made before this backend name Django's: the same users and checks, so they are
# renamed once (the session is saved with the new name) rather than logged out.
LEGACY_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _key(user_id) -> str:
    return f"session-user:{user_id}"


def forget_user(user_id) -> None:
    caches["status"].delete(_key(user_id))


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id):
        cache = caches["status"]
        user = cache.get(_key(user_id))  # a pickle: every request gets its own instance
        if user is None:
            user = super().get_user(user_id)  # None for an inactive or deleted user
            if user is not None:
                if not user.is_superuser:
                    user.get_all_permissions()  # kept on the instance: no permission queries later
                cache.set(_key(user_id), user, settings.API_AUTH_CACHE_SECONDS)
        return user


def _remembered(request):
    """The session's user from the cache when the session's hash still matches; else None."""
    session = request.session
    if session.get(auth.BACKEND_SESSION_KEY) == LEGACY_BACKEND:
        session[auth.BACKEND_SESSION_KEY] = BACKEND
    if session.get(auth.BACKEND_SESSION_KEY) != BACKEND or auth.SESSION_KEY not in session:
        return None
    user_id = auth.get_user_model()._meta.pk.to_python(session[auth.SESSION_KEY])
    user = caches["status"].get(_key(user_id))
    if user is None:
        return None
    session_hash = session.get(auth.HASH_SESSION_KEY)
    if session_hash and constant_time_compare(session_hash, user.get_session_auth_hash()):
        return user
    forget_user(user_id)
    return None


def get_user(request):
    if not hasattr(request, "_cached_user"):
        request._cached_user = _remembered(request) or auth.get_user(request)
    return request._cached_user


class CachedAuthenticationMiddleware(AuthenticationMiddleware):
    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: get_user(request))


# A change saved in this process takes effect here at once (other processes: within the
# cache's timeout). Connected on import: nothing is remembered before this module is loaded.
def _forget_saved(sender, instance, **kwargs) -> None:
    forget_user(instance.pk)


def _forget_related(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    for user_id in (pk_set or ()) if reverse else (instance.pk,):
        forget_user(user_id)


_User = auth.get_user_model()
post_save.connect(_forget_saved, sender=_User, dispatch_uid="etter-auth-forget-saved")
for _through in (_User.groups.through, _User.user_permissions.through):
    m2m_changed.connect(_forget_related, sender=_through, dispatch_uid=f"etter-auth-{_through.__name__}")
