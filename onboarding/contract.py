"""The draup-world contract's names (../shared/draup-world-contract.md), shared by the client
(onboarding/draup_world.py) and the simulator (onboarding/simulator.py) so that neither owns
them and the two cannot drift apart."""

CREATE_COMPANY_ROLE = "create_company_role"
LINK_JOB_DESCRIPTION = "link_job_description"
RUN_AI_ASSESSMENT = "run_ai_assessment"

PATH_PREFIX = "/api/automated_workflows/"
# The endpoint names as the URL spells them.
SLUGS = {
    CREATE_COMPANY_ROLE: "create-company-role",
    LINK_JOB_DESCRIPTION: "link-job-description",
    RUN_AI_ASSESSMENT: "run-ai-assessment",
}
PATHS = {endpoint: PATH_PREFIX + slug for endpoint, slug in SLUGS.items()}
# The LLM-backed calls share draup-world's rate limit.
RATE_LIMITED = [RUN_AI_ASSESSMENT]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
TRACE_ID_HEADER = "X-Trace-Id"
# draup-world answers a repeated Idempotency-Key from its record and says so with this header.
REPLAYED_HEADER = "Idempotent-Replayed"
