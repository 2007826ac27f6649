"""Token usage on the status pages (contract, "Usage"): `{% tokens_of role=role %}`,
`{% tokens_of batch_key=batch.batch_id %}`, `{% tokens_of company=company %}`, `{% tokens_of
run=run %}` (or `steps=steps`, its steps already read). One aggregate query each, whatever the
number of roles."""

from django import template

from onboarding.models import RunStep
from onboarding.selectors import batch_token_usage, company_token_usage, role_token_usage, token_usage

register = template.Library()


@register.inclusion_tag("status/_tokens.html", takes_context=True)
def tokens_of(
    context, *, role=None, run=None, steps=None, batch_key=None, company=None, label="Tokens used"
) -> dict:
    if steps is not None:  # a run's steps already read for the page: summed here, no query
        usage = {
            "input_tokens": sum(s.input_tokens for s in steps),
            "output_tokens": sum(s.output_tokens for s in steps),
        }
    elif run is not None:
        usage = token_usage(RunStep.objects.filter(run_id=run.pk))
    elif role is not None:
        usage = role_token_usage(role)
    elif batch_key is not None:  # a batch may span companies: only those the viewer sees
        usage = batch_token_usage(batch_key, user=context["request"].user)
    else:
        usage = company_token_usage(company)
    return {"usage": usage, "label": label, "total": usage["input_tokens"] + usage["output_tokens"]}
