"""The draup-world contract's names (../shared/draup-world-contract.md), shared by the client
(onboarding/draup_world.py) and the simulator (onboarding/simulator.py) so that neither owns
them and the two cannot drift apart. No Django imports at module level: settings.py reads the
endpoint names from here."""

CREATE_COMPANY_ROLE = "create_company_role"
LINK_JOB_DESCRIPTION = "link_job_description"
RUN_AI_ASSESSMENT = "run_ai_assessment"

# The enhancement workflows (contract, "The enhancement workflows"): one endpoint per step,
# named as the step.
TOP_TASKS = "top_tasks"
STANDARDIZE_TASKS = "standardize_tasks"
SKILLS_MINER = "skills_miner"
SKILLS_ARCHITECTURE = "skills_architecture"
TASK_FEASIBILITY = "task_feasibility"
SKILLS_CATALOG = "skills_catalog"
RESKILLING = "reskilling"

PATH_PREFIX = "/api/automated_workflows/"
# The endpoint names as the URL spells them.
SLUGS = {
    CREATE_COMPANY_ROLE: "create-company-role",
    LINK_JOB_DESCRIPTION: "link-job-description",
    RUN_AI_ASSESSMENT: "run-ai-assessment",
    TOP_TASKS: "execute-top-tasks",
    STANDARDIZE_TASKS: "standardize-tasks",
    SKILLS_MINER: "mine-skills",
    SKILLS_ARCHITECTURE: "build-skills-architecture",
    TASK_FEASIBILITY: "assess-task-feasibility",
    SKILLS_CATALOG: "populate-skills-catalog",
    RESKILLING: "generate-reskilling",
}
# What the simulator serves and the client uses unless settings.DRAUP_WORLD_PATHS says otherwise.
PATHS = {endpoint: PATH_PREFIX + slug for endpoint, slug in SLUGS.items()}
ENHANCEMENTS = [TOP_TASKS, STANDARDIZE_TASKS, SKILLS_MINER, SKILLS_ARCHITECTURE, TASK_FEASIBILITY]
ENHANCEMENTS += [SKILLS_CATALOG, RESKILLING]
# The LLM-backed calls: slow, they share draup-world's rate limit, and report token usage.
RATE_LIMITED = [RUN_AI_ASSESSMENT, TOP_TASKS, SKILLS_MINER, TASK_FEASIBILITY]
LLM_BACKED = RATE_LIMITED

# What each enhancement answers (200): {field: the type it must have}. A list's items are
# objects carrying the named keys.
ENHANCEMENT_ANSWERS: dict[str, dict[str, tuple]] = {
    TOP_TASKS: {"top_tasks": (list, ("name", "rank", "automation_score"))},
    STANDARDIZE_TASKS: {"standardized": (int, ())},
    SKILLS_MINER: {"skills": (list, ("name", "category"))},
    SKILLS_ARCHITECTURE: {"clusters": (int, ())},
    TASK_FEASIBILITY: {"feasible_tasks": (int, ()), "infeasible_tasks": (int, ())},
    SKILLS_CATALOG: {"catalog_entries": (int, ())},
    RESKILLING: {"pathways": (int, ())},
}


def path(endpoint: str) -> str:
    """Where the client sends `endpoint`: settings.DRAUP_WORLD_PATHS (e.g. from the environment
    DRAUP_WORLD_PATHS="top_tasks=/api/v2/top-tasks") wins over the contract's default."""
    from django.conf import settings

    return getattr(settings, "DRAUP_WORLD_PATHS", {}).get(endpoint) or PATHS[endpoint]


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
TRACE_ID_HEADER = "X-Trace-Id"
# draup-world answers a repeated Idempotency-Key from its record and says so with this header.
REPLAYED_HEADER = "Idempotent-Replayed"
