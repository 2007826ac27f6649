"""Request and response shapes of reference 001 "API Reference" and 002 "API Design"."""

from rest_framework import serializers

from onboarding.intake import OnExisting
from onboarding.models import DocumentType


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
    status = serializers.CharField()
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
    outcome = serializers.ChoiceField(
        choices=["running", "succeeded", "retrying", "failed", "discarded", "abandoned"]
    )
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
    status = serializers.CharField()
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


class CancelOut(StatusOut):
    message = serializers.CharField()


class ErrorOut(serializers.Serializer):
    detail = ErrorBody()


class HealthOut(serializers.Serializer):
    status = serializers.CharField()
    version = serializers.CharField()
    timestamp = serializers.DateTimeField()
    components = serializers.DictField(child=serializers.CharField())


class CompaniesOut(serializers.Serializer):
    companies = serializers.ListField(child=serializers.CharField())
    total_count = serializers.IntegerField()


class RoleOut(serializers.Serializer):
    job_id = serializers.CharField()
    job_title = serializers.CharField()
    job_role = serializers.CharField()
    draup_role = serializers.CharField()
    occupation = serializers.CharField()
    job_family = serializers.CharField()
    status = serializers.CharField()


class RolesOut(serializers.Serializer):
    company_name = serializers.CharField()
    roles = RoleOut(many=True)
    total_count = serializers.IntegerField()


class HistoryItemOut(serializers.Serializer):
    workflow_id = serializers.CharField()
    role_name = serializers.CharField()
    status = serializers.CharField()
    batch_id = serializers.CharField(allow_null=True)
    queued_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.DictField(allow_null=True)


class MetadataOut(serializers.Serializer):
    states = serializers.ListField(child=serializers.DictField())
    transitions = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    steps = serializers.ListField(child=serializers.DictField())
    statuses = serializers.ListField(child=serializers.CharField())
