"""Request and response shapes of reference 001 "API Reference" and 002 "API Design".

Every answer of the views is produced by its *Out serializer, the one the schema documents, so
the two cannot drift (the schema fuzzing in tests/test_api_schema.py checks each answer)."""

from rest_framework import serializers

from onboarding.intake import OnExisting
from onboarding.models import AttemptOutcome, DocumentType, RoleState, RunStatus, StepStatus


class LowercaseChoiceField(serializers.ChoiceField):
    """A stored upper-case choice (READY), answered in lower case (ready), as reference 001 does."""

    def to_representation(self, value):
        return super().to_representation(value.lower())


class BlankAsNullCharField(serializers.CharField):
    """A text column that is blank when there is nothing (a run of no batch), answered as null."""

    def to_representation(self, value):
        return super().to_representation(value) or None


# Choice sets the schema names (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
RUN_STATUS_CHOICES = [v.lower() for v in RunStatus.values]
# A status answer says "stale" when the run's role changed since the run ended READY.
RUN_ANSWER_STATUS_CHOICES = [*RUN_STATUS_CHOICES, "stale"]
ROLE_STATUS_CHOICES = [v.lower() for v in RoleState.values]
PART_HEALTH_CHOICES = ["healthy", "down"]
DRAUP_WORLD_HEALTH_CHOICES = [*PART_HEALTH_CHOICES, "simulator"]
SITE_HEALTH_CHOICES = ["healthy", "unhealthy"]


class DocumentIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=DocumentType.values, default=DocumentType.JOB_DESCRIPTION)
    uri = serializers.URLField(required=False, allow_blank=True, max_length=2000)
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)

    def validate(self, data):
        if bool(data.get("uri")) == bool((data.get("content") or "").strip()):
            raise serializers.ValidationError("Give each document exactly one of uri and content.")
        return data


class OptionsIn(serializers.Serializer):
    skip_enhancement_workflows = serializers.BooleanField(default=False)
    force_rerun = serializers.BooleanField(default=False, help_text='the same as on_existing "reassess"')
    priority = serializers.ChoiceField(
        choices=["normal", "urgent"],
        default="normal",
        help_text="urgent runs are claimed ahead of normal runs pushed in the last "
        "PIPELINE_URGENT_HEAD_START_SECONDS (30 min), never ahead of runs waiting longer",
    )
    from_scratch = serializers.BooleanField(
        default=False,
        help_text="re-assess from scratch: create the draup-world company role again instead of "
        'keeping the one of the role\'s previous run (implies on_existing "reassess")',
    )
    on_existing = serializers.ChoiceField(
        choices=OnExisting.choices,
        default=OnExisting.UPDATE,
        help_text="what to do with a role that already exists (matched ignoring case and extra spaces)",
    )
    notify_on_complete = serializers.BooleanField(default=True)


class PushIn(serializers.Serializer):
    company_id = serializers.CharField(max_length=200, help_text="the company's name")
    role_name = serializers.CharField(max_length=255)
    documents = DocumentIn(many=True, required=False, default=list)
    draup_role_id = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    draup_role_name = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    options = OptionsIn(required=False, default=dict)


class PushOut(serializers.Serializer):
    workflow_id = serializers.CharField()
    role_id = serializers.CharField()
    role_outcome = serializers.ChoiceField(
        choices=["created", "updated", "unchanged"],
        help_text="whether the role was new, or existed and was updated or left unchanged",
    )
    status = serializers.CharField()
    estimated_duration_seconds = serializers.IntegerField()
    position_in_queue = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class StepOut(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=StepStatus.values)
    attempts = serializers.IntegerField()
    duration_ms = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    input_tokens = serializers.IntegerField(help_text="tokens its LLM call read (0 for the others)")
    output_tokens = serializers.IntegerField(help_text="tokens its LLM call wrote")


class UsageOut(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()


class ProgressOut(serializers.Serializer):
    current = serializers.IntegerField()
    total = serializers.IntegerField()
    steps = StepOut(many=True)


class ErrorBody(serializers.Serializer):
    error = serializers.CharField()
    message = serializers.CharField()
    recoverable = serializers.BooleanField()


class AttemptOut(serializers.Serializer):
    step = serializers.CharField()
    call = serializers.CharField()
    round = serializers.IntegerField()
    number = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=AttemptOutcome.values)
    started_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    http_status = serializers.IntegerField(allow_null=True)
    error = serializers.DictField(allow_null=True)
    replayed = serializers.BooleanField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.CharField()


class StatusOut(serializers.Serializer):
    workflow_id = serializers.CharField()
    role_id = serializers.CharField()
    company_id = serializers.CharField()
    role_name = serializers.CharField()
    status = LowercaseChoiceField(RUN_ANSWER_STATUS_CHOICES)
    current_step = serializers.CharField(allow_null=True)
    progress = ProgressOut()
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    estimated_duration_seconds = serializers.IntegerField()
    position_in_queue = serializers.IntegerField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    dashboard_url = serializers.CharField(allow_null=True)
    error = serializers.DictField(allow_null=True)
    attempts = AttemptOut(many=True, help_text="Every attempt of every call, oldest first, all rounds")
    usage = UsageOut(help_text="tokens the run's LLM calls consumed, summed over its steps")


# GET status is polled by hundreds at once (onboarding/polling.py): the part of StatusOut that
# only the run's version decides is serialized once per version and cached; the rest, on each
# poll. Together they are exactly StatusOut (tests/test_api_schema.py checks it).
class RunCoreOut(StatusOut):
    """What the run, its steps and attempts decide: serialized once per version."""

    # DRF drops an inherited field set to None; djangorestframework-stubs do not model that.
    workflow_id = role_id = company_id = role_name = status = None  # type: ignore[assignment]
    estimated_duration_seconds = position_in_queue = dashboard_url = None  # type: ignore[assignment]


class StatusHeadOut(StatusOut):
    """What changes without the run's version (its role, the estimate, the queue): per poll."""

    # DRF drops an inherited field set to None; djangorestframework-stubs do not model that.
    current_step = progress = queued_at = started_at = completed_at = None  # type: ignore[assignment]
    next_attempt_at = error = attempts = usage = None  # type: ignore[assignment]


class CancelOut(StatusOut):
    message = serializers.CharField()


class ErrorOut(serializers.Serializer):
    detail = ErrorBody()


class ComponentsOut(serializers.Serializer):
    database = serializers.ChoiceField(choices=PART_HEALTH_CHOICES)
    workers = serializers.ChoiceField(choices=PART_HEALTH_CHOICES)
    draup_world = serializers.ChoiceField(choices=DRAUP_WORLD_HEALTH_CHOICES)


class HealthOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=SITE_HEALTH_CHOICES)
    version = serializers.CharField()
    timestamp = serializers.DateTimeField()
    components = ComponentsOut()


class CompaniesOut(serializers.Serializer):
    companies = serializers.ListField(child=serializers.CharField())
    total_count = serializers.IntegerField()


class RoleOut(serializers.Serializer):
    """One role, from the model: the names of reference 001."""

    job_id = serializers.CharField(source="pk")
    job_title = serializers.CharField(source="name")
    job_role = serializers.CharField(source="name")
    draup_role = serializers.CharField(source="draup_role_name", allow_blank=True)
    occupation = serializers.CharField(allow_blank=True)
    job_family = serializers.CharField(allow_blank=True)
    status = LowercaseChoiceField(ROLE_STATUS_CHOICES, source="state")


class RolesOut(serializers.Serializer):
    company_name = serializers.CharField()
    roles = RoleOut(many=True)
    total_count = serializers.IntegerField()


class HistoryItemOut(serializers.Serializer):
    """One run, from the model."""

    workflow_id = serializers.CharField()
    role_name = serializers.CharField(source="role.name")
    status = LowercaseChoiceField(RUN_STATUS_CHOICES)
    batch_id = BlankAsNullCharField(source="batch_key", allow_null=True)
    queued_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(source="finished_at", allow_null=True)
    error = serializers.DictField(allow_null=True)


class HistoryOut(serializers.Serializer):
    """A page of a company's runs (page numbers: ?page=, ?page_size=)."""

    count = serializers.IntegerField(help_text="runs in all pages")
    next = serializers.URLField(allow_null=True, help_text="the next page, if any")
    previous = serializers.URLField(allow_null=True, help_text="the previous page, if any")
    results = HistoryItemOut(many=True)


class StateOut(serializers.Serializer):
    value = serializers.ChoiceField(choices=RoleState.values)
    # A field named like Field.label: DRF's metaclass takes declared fields off the class, so
    # they do not clash at run time; the stubs cannot see that.
    label = serializers.CharField()  # type: ignore[assignment]


class StepInfoOut(serializers.Serializer):
    name = serializers.CharField()
    substate = serializers.CharField()
    optional = serializers.BooleanField()
    needs = serializers.ListField(child=serializers.CharField(), help_text="the steps it starts after")
    max_attempts = serializers.IntegerField(source="policy.attempts")


class MetadataOut(serializers.Serializer):
    states = StateOut(many=True)
    transitions = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=RoleState.values)),
        help_text="each state: the states it may move to",
    )
    steps = StepInfoOut(many=True)
    statuses = serializers.ListField(child=LowercaseChoiceField(RUN_STATUS_CHOICES))
    substates = serializers.ListField(child=serializers.CharField())
