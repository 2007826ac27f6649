"""The pipeline's steps, in order. A new step (top tasks, skills, ...) is one more entry here;
`optional=True` makes its failure leave the role DEGRADED instead of FAILED."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onboarding import draup_world
from onboarding.jd import link_payload, pick_job_description
from onboarding.models import ProcessingStep

from .policies import AI_ASSESSMENT_POLICY, ROLE_SETUP_POLICY, RetryPolicy

if TYPE_CHECKING:
    from .engine import StepContext


@dataclass(frozen=True)
class Step:
    name: str
    substate: str
    policy: RetryPolicy
    execute: Callable[[StepContext], None]
    optional: bool = False
    # Paced steps start no faster than PIPELINE_ASSESSMENTS_PER_MINUTE across all workers.
    paced: bool = False


# Everything a call sends is computed before the call: a lazy database read inside it would
# hold a pooled connection for as long as draup-world takes to answer.


def role_setup(ctx: StepContext) -> None:
    """Create the company role (once: its id is saved at once), then link the job description.
    Each call has its own attempts under the step's policy."""
    role = ctx.role
    api = draup_world.client(use_simulator=ctx.use_simulator)
    if "company_role_id" not in ctx.output:
        company, name = role.company.name, role.name
        draup_role = role.draup_role_name or role.draup_role_id or None
        ctx.attempt(
            draup_world.CREATE_COMPANY_ROLE,
            lambda wire: api.create_company_role(
                wire, company_name=company, role_name=name, draup_role=draup_role
            ),
            keep=lambda company_role_id: {"company_role_id": company_role_id},
        )
    jd = pick_job_description(role.documents.all())
    if jd is None:
        raise draup_world.DraupWorldError(
            "NO_JOB_DESCRIPTION",
            "The role's job description was removed after the push; upload one and retry.",
            retryable=False,
        )
    link = {"company_role_id": ctx.output["company_role_id"], **link_payload(jd)}
    ctx.attempt(
        draup_world.LINK_JOB_DESCRIPTION,
        lambda wire: api.link_job_description(wire, **link),
        keep=lambda jd_id: {"jd_id": jd_id, "jd_document_id": jd.pk},
    )


def ai_assessment(ctx: StepContext) -> None:
    role = ctx.role
    api = draup_world.client(use_simulator=ctx.use_simulator)
    names = {
        "company_name": role.company.name,
        "role_name": role.name,
        "company_role_id": ctx.output_of("role_setup")["company_role_id"],
    }
    ctx.attempt(
        draup_world.RUN_AI_ASSESSMENT,
        lambda wire: api.run_ai_assessment(wire, **names),
        keep=lambda result: result,
    )


STEPS: list[Step] = [
    Step("role_setup", ProcessingStep.ROLE_SETUP, ROLE_SETUP_POLICY, role_setup),
    Step("ai_assessment", ProcessingStep.AI_ASSESSMENT, AI_ASSESSMENT_POLICY, ai_assessment, paced=True),
]
STEP_NAMES = [s.name for s in STEPS]
