"""The API's per-user rate limit, counted in fixed windows.

DRF's UserRateThrottle keeps every request's time of the last window in a list that it reads,
trims and writes back (pickled) on each request: 600 entries for a user at the default rate,
more at higher ones, costing more than a status answer itself. This one keeps a counter per
user and window: one increment a request. The price is the usual fixed-window one: a user may
make up to twice the rate across a window's edge, never more.
"""

from __future__ import annotations

from rest_framework.throttling import UserRateThrottle


class FixedWindowUserThrottle(UserRateThrottle):
    # Set by SimpleRateThrottle.__init__ from the rate; the stubs do not declare them.
    num_requests: int
    duration: int
    now: float
    window_ends: float

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        key = f"{self.key}:{window}"
        # add() does nothing when the counter is there already: the first request of a window
        # makes it, threads and all, and it lapses with its window.
        self.cache.add(key, 0, self.duration + 1)
        try:
            count = self.cache.incr(key)
        except ValueError:  # evicted between the two calls: count this request as the first
            self.cache.set(key, 1, self.duration + 1)
            count = 1
        self.window_ends = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self) -> float | None:
        return max(0.0, self.window_ends - self.now)
