"""Pictures of runs on the status pages (issue 11 point 6): `{% run_timeline steps attempts %}`
on a role's page, `{% batch_step_progress batch.batch_id %}` on a batch's."""

from django import template

from onboarding.models import RunStep
from onboarding.timeline import run_timeline as timeline_of

register = template.Library()


@register.inclusion_tag("status/_timeline.html")
def run_timeline(steps, attempts) -> dict:
    """The run's steps as bars in time (computed from the rows the page read already)."""
    return {"timeline": timeline_of(list(steps), list(attempts))}


@register.inclusion_tag("batches/_step_progress.html", takes_context=True)
def batch_step_progress(context, batch_key: str) -> dict:
    """The batch's progress per step, for the companies the viewer sees: one query."""
    from onboarding.models import Company
    from onboarding.timeline import batch_step_progress as progress

    user = context["request"].user
    steps = RunStep.objects.filter(
        run__batch_key=batch_key, run__role__company__in=Company.objects.visible_to(user)
    )
    rows = progress(steps)
    for i, row in enumerate(rows):
        row["y"] = i * 22
    return {"rows": rows, "height": len(rows) * 22 + 4}
