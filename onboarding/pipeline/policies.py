"""Retry policies from the draup-world contract."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    first_wait: float
    cap: float
    factor: float = 2.0

    def wait_after(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        Backoff doubles from `first_wait` up to `cap`; a server's Retry-After is a floor
        that is never shortened, even when tests scale the backoff down.
        """
        backoff = min(self.cap, self.first_wait * self.factor ** (attempt - 1))
        return max(backoff * settings.PIPELINE_BACKOFF_SCALE, retry_after or 0.0)


ROLE_SETUP_POLICY = RetryPolicy(attempts=3, first_wait=2, cap=30)
AI_ASSESSMENT_POLICY = RetryPolicy(attempts=5, first_wait=5, cap=600)
