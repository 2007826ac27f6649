"""Step names in words on every page: "AI assessment", not `ai_assessment`."""

from django import template

from onboarding.pipeline.steps import label

register = template.Library()


@register.filter
def step_label(name: str | None) -> str:
    return label(name) if name else ""
