"""The pipeline's steps as a graph (reference 002, "Workflow Dependency Graph"): each step names
the steps it needs, and the engine starts it as soon as they completed, beside any other step
that is ready. A new step is one more entry in STEPS (its RunStep rows are made per push: no
migration); `optional=True` makes its failure leave the role DEGRADED instead of FAILED, with
the steps that need it skipped. The graph is checked when this module loads: a cycle or an
unknown parent stops the site from starting, naming the steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

from onboarding import contract, draup_world
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
    needs: tuple[str, ...] = ()
    optional: bool = False
    # Paced steps (the LLM-backed calls) start no faster than PIPELINE_ASSESSMENTS_PER_MINUTE
    # across all workers and all of them together: they share draup-world's rate limit.
    paced: bool = False


# Everything a call sends is computed before the call: a lazy database read inside it would
# hold a pooled connection for as long as draup-world takes to answer.


def role_setup(ctx: StepContext) -> None:
    """Create the company role (once: its id is saved at once), then link the job description.
    Each call has its own attempts under the step's policy. A re-push of the same role starts
    with the company role of its previous run (services: re-run only what changed)."""
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
            # The names it was made for: a later push of the same role may reuse it (services).
            keep=lambda company_role_id: {"company_role_id": company_role_id, "for_role_name": role.name},
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


# What each enhancement sends besides the company role: {field: (step, field of its output)}.
ENHANCEMENT_INPUTS = {
    contract.TOP_TASKS: {"tasks": ("ai_assessment", "tasks")},
    contract.STANDARDIZE_TASKS: {"top_tasks": ("top_tasks", "top_tasks")},
    contract.SKILLS_MINER: {"tasks": ("ai_assessment", "tasks")},
    contract.SKILLS_ARCHITECTURE: {"skills": ("skills_miner", "skills")},
    contract.TASK_FEASIBILITY: {"tasks": ("ai_assessment", "tasks")},
    contract.SKILLS_CATALOG: {"clusters": ("skills_architecture", "clusters")},
    contract.RESKILLING: {"catalog_entries": ("skills_catalog", "catalog_entries")},
}


def enhancement(ctx: StepContext) -> None:
    """One enhancement workflow: the company role and what its parents returned, sent to the
    step's endpoint; its whole (checked) answer is the step's output."""
    endpoint = ctx.step.name
    api = draup_world.client(use_simulator=ctx.use_simulator)
    payload = {
        "company_role_id": ctx.output_of("role_setup")["company_role_id"],
        "company_name": ctx.role.company.name,
        "role_name": ctx.role.name,
    }
    for field, (step, key) in ENHANCEMENT_INPUTS[endpoint].items():
        payload[field] = ctx.output_of(step).get(key)
    ctx.attempt(
        endpoint, lambda wire: api.run_enhancement(endpoint, wire, payload), keep=lambda result: result
    )


def _enhancement(name: str, needs: str) -> Step:
    llm = name in contract.LLM_BACKED
    policy = AI_ASSESSMENT_POLICY if llm else ROLE_SETUP_POLICY
    return Step(name, ProcessingStep.SKILLS, policy, enhancement, needs=(needs,), optional=True, paced=llm)


CRITICAL = "ai_assessment"  # the last step of the critical path: its output is the assessment
STEPS: list[Step] = [
    Step("role_setup", ProcessingStep.ROLE_SETUP, ROLE_SETUP_POLICY, role_setup),
    Step(
        "ai_assessment",
        ProcessingStep.AI_ASSESSMENT,
        AI_ASSESSMENT_POLICY,
        ai_assessment,
        needs=("role_setup",),
        paced=True,
    ),
    _enhancement(contract.TOP_TASKS, "ai_assessment"),
    _enhancement(contract.STANDARDIZE_TASKS, contract.TOP_TASKS),
    _enhancement(contract.SKILLS_MINER, "ai_assessment"),
    _enhancement(contract.SKILLS_ARCHITECTURE, contract.SKILLS_MINER),
    _enhancement(contract.TASK_FEASIBILITY, "ai_assessment"),
    _enhancement(contract.SKILLS_CATALOG, contract.SKILLS_ARCHITECTURE),
    _enhancement(contract.RESKILLING, contract.SKILLS_CATALOG),
]


def in_dependency_order(steps: list[Step]) -> list[Step]:
    """The steps with every parent before its children (the listed order among equals), or
    ImproperlyConfigured naming the unknown parents or the steps caught in a cycle."""
    names = {s.name for s in steps}
    if len(names) != len(steps):
        raise ImproperlyConfigured("Pipeline steps: two steps share a name.")
    unknown = [f"{s.name} needs {p}" for s in steps for p in s.needs if p not in names]
    if unknown:
        raise ImproperlyConfigured("Pipeline steps need unknown steps: " + "; ".join(unknown) + ".")
    ordered: list[Step] = []
    placed: set[str] = set()
    left = list(steps)
    while left:
        ready = [s for s in left if set(s.needs) <= placed]
        if not ready:
            cycle = ", ".join(sorted(s.name for s in left))
            raise ImproperlyConfigured(f"Pipeline steps form a cycle: {cycle} (in it, or after it).")
        ordered += ready
        placed |= {s.name for s in ready}
        left = [s for s in left if s.name not in placed]
    return ordered


STEPS = in_dependency_order(STEPS)
# What a CSM reads for each step: the section of the role it fills.
STEP_LABELS = {
    "role_setup": "Role setup",
    "ai_assessment": "AI assessment",
    contract.TOP_TASKS: "Top tasks",
    contract.STANDARDIZE_TASKS: "Standardized tasks",
    contract.SKILLS_MINER: "Skills",
    contract.SKILLS_ARCHITECTURE: "Skills architecture",
    contract.TASK_FEASIBILITY: "Task feasibility",
    contract.SKILLS_CATALOG: "Skills catalog",
    contract.RESKILLING: "Reskilling pathways",
}


def label(name: str) -> str:
    return STEP_LABELS.get(name) or name.replace("_", " ").capitalize()


STEP_NAMES = [s.name for s in STEPS]
BY_NAME = {s.name: s for s in STEPS}

# Read STEPS at call time, not once at import: the engine's tests swap steps in place.


def step_names() -> list[str]:
    return [s.name for s in STEPS]


def enhancement_steps() -> list[str]:
    return [s.name for s in STEPS if s.optional]


def critical_steps() -> list[str]:
    """The steps a push with skip_enhancement_workflows runs: the assessment and its ancestors."""
    by_name = {s.name: s for s in STEPS}
    wanted, stack = set(), [CRITICAL] if CRITICAL in by_name else []
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack += by_name[name].needs
    return [s.name for s in STEPS if s.name in wanted]


def descendants(names: set[str]) -> set[str]:
    """Every step that needs one of `names`, directly or through others."""
    found = set(names)
    for step in STEPS:  # parents come first: one pass reaches every descendant
        if found & set(step.needs):
            found.add(step.name)
    return found - set(names)
