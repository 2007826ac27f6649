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


def role_setup(ctx: StepContext) -> None:
    role = ctx.role
    api = draup_world.client(use_simulator=ctx.use_simulator)
    if "company_role_id" not in ctx.output:
        company_role_id = api.create_company_role(
            ctx.call(draup_world.CREATE_COMPANY_ROLE),
            company_name=role.company.name,
            role_name=role.name,
            draup_role=role.draup_role_name or role.draup_role_id or None,
        )
        # Saved at once: a failed link must not create the company role a second time.
        ctx.save_output(company_role_id=company_role_id)
    jd = pick_job_description(role.documents.all())
    if jd is None:
        raise draup_world.DraupWorldError(
            "NO_JOB_DESCRIPTION",
            "The role's job description was removed after the push; upload one and retry.",
            retryable=False,
        )
    jd_id = api.link_job_description(
        ctx.call(draup_world.LINK_JOB_DESCRIPTION),
        company_role_id=ctx.output["company_role_id"],
        **link_payload(jd),
    )
    ctx.save_output(jd_id=jd_id, jd_document_id=jd.pk)


def ai_assessment(ctx: StepContext) -> None:
    role = ctx.role
    result = draup_world.client(use_simulator=ctx.use_simulator).run_ai_assessment(
        ctx.call(draup_world.RUN_AI_ASSESSMENT),
        company_name=role.company.name,
        role_name=role.name,
        company_role_id=ctx.output_of("role_setup")["company_role_id"],
    )
    ctx.save_output(**result)


STEPS: list[Step] = [
    Step("role_setup", ProcessingStep.ROLE_SETUP, ROLE_SETUP_POLICY, role_setup),
    Step("ai_assessment", ProcessingStep.AI_ASSESSMENT, AI_ASSESSMENT_POLICY, ai_assessment, paced=True),
]
STEP_NAMES = [s.name for s in STEPS]
