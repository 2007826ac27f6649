"""Pictures of runs, where they beat tables (issue 11 point 6).

A run's timeline: one lane per step, each step a bar from its start to its end (or to now
while it runs), so that steps running side by side show as overlapping bars; every attempt a
tick on its step's bar, failed ones red. A batch's progress per step: for each step, how many
of the batch's runs have it completed, running, failed, skipped or still to do.
Only geometry is computed here; templates draw it as inline SVG."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from onboarding.pipeline.steps import label

WIDTH = 640  # px of the time axis
LANE = 22  # px per step
LABEL_WIDTH = 150  # px for the step names left of the axis


@dataclass
class Bar:
    name: str
    label: str
    status: str
    y: int
    x: float = 0.0
    width: float = 0.0
    ticks: list[dict] = field(default_factory=list)
    title: str = ""


def run_timeline(steps: list, attempts: list, now: datetime | None = None) -> dict | None:
    """The geometry of a run's timeline, or None before any step started."""
    started = [s.started_at for s in steps if s.started_at]
    if not started:
        return None
    now = now or timezone.now()
    origin = min(started)
    end = max(
        [
            now if s.status in ("running", "retrying") else (s.finished_at or s.started_at)
            for s in steps
            if s.started_at
        ]
        + [a.finished_at or now for a in attempts]
    )
    span = max((end - origin).total_seconds(), 0.001)

    def x(moment: datetime) -> float:
        return round(LABEL_WIDTH + WIDTH * (moment - origin).total_seconds() / span, 1)

    bars = []
    for i, step in enumerate(steps):
        bar = Bar(step.name, label(step.name), step.status, y=i * LANE)
        if step.started_at:
            stop = step.finished_at if step.status not in ("running", "retrying") else now
            bar.x = x(step.started_at)
            bar.width = max(2.0, x(stop or step.started_at) - bar.x)
            seconds = ((stop or step.started_at) - step.started_at).total_seconds()
            bar.title = f"{bar.label}: {step.get_status_display().lower()}, {seconds:.1f} s"
        else:
            bar.title = f"{bar.label}: {step.get_status_display().lower()}"
        bar.ticks = [
            {"x": x(a.started_at), "failed": a.outcome in ("failed", "retrying"), "title": a.summary}
            for a in attempts
            if a.step == step.name
        ]
        bars.append(bar)
    return {
        "bars": bars,
        "width": LABEL_WIDTH + WIDTH + 10,
        "height": len(steps) * LANE + 24,
        "axis_y": len(steps) * LANE + 4,
        "label_width": LABEL_WIDTH,
        "span_seconds": round(span, 1),
        "axis_end": LABEL_WIDTH + WIDTH,
    }


STATUS_ORDER = ["completed", "running", "retrying", "failed", "skipped", "pending"]


def batch_step_progress(steps_queryset) -> list[dict]:
    """For each step name, its runs per status, as segments of a 100%-wide bar: one query."""
    from onboarding.pipeline.steps import step_names

    counts: dict[str, dict[str, int]] = {}
    for name, status, n in steps_queryset.values_list("name", "status").annotate(n=Count("id")).order_by():
        counts.setdefault(name, {})[status] = n
    rows = []
    for name in [n for n in step_names() if n in counts]:
        total = sum(counts[name].values())
        offset, segments = 0.0, []
        for status in STATUS_ORDER:
            n = counts[name].get(status, 0)
            if n:
                width = 100.0 * n / total
                segments.append({"status": status, "n": n, "x": round(offset, 2), "width": round(width, 2)})
                offset += width
        done = counts[name].get("completed", 0)
        rows.append({"name": name, "label": label(name), "total": total, "done": done, "segments": segments})
    return rows
