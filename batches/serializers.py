"""The batch endpoints' request and answer shapes (the OpenAPI schema is built from them)."""

from rest_framework import serializers

from onboarding.api.serializers import OptionsIn, PushIn


class PushBatchIn(serializers.Serializer):
    # many=True hands max_length to the ListSerializer; djangorestframework-stubs omit it.
    roles = PushIn(many=True, allow_empty=False, max_length=5000)  # type: ignore[call-arg]
    options = OptionsIn(required=False, default=dict)


class AcceptedOut(serializers.Serializer):
    company_id = serializers.CharField()
    role_name = serializers.CharField()
    workflow_id = serializers.CharField(allow_null=True, help_text="null in a dry run")
    role_outcome = serializers.ChoiceField(
        choices=["created", "updated", "unchanged"],
        help_text="whether the role was new, or existed and was updated or left unchanged",
    )


class RefusedOut(serializers.Serializer):
    company_id = serializers.CharField()
    role_name = serializers.CharField()
    error = serializers.CharField()
    reason = serializers.CharField()


class SkippedOut(serializers.Serializer):
    company_id = serializers.CharField()
    role_name = serializers.CharField()
    role_id = serializers.CharField()
    reason = serializers.CharField()


class CompanyEstimateOut(serializers.Serializer):
    company = serializers.CharField()
    roles = serializers.IntegerField()
    estimated_tokens = serializers.IntegerField()
    estimated_cost = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)
    budget_tokens = serializers.IntegerField(allow_null=True, help_text="null: no budget set")
    used_this_month = serializers.IntegerField()
    left_this_month = serializers.IntegerField(allow_null=True)
    fits = serializers.BooleanField(help_text="false: the push would be refused (BUDGET_EXCEEDED)")


class EstimateOut(serializers.Serializer):
    roles = serializers.IntegerField()
    estimated_tokens = serializers.IntegerField()
    estimated_cost = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    from_history = serializers.BooleanField(
        help_text="true: from what recent runs used per JD character; false: LLM_TOKENS_PER_ROLE"
    )
    companies = CompanyEstimateOut(many=True)


class PushBatchOut(serializers.Serializer):
    batch_id = serializers.CharField(allow_null=True, help_text="null in a dry run")
    dry_run = serializers.BooleanField()
    estimate = EstimateOut(allow_null=True, help_text="with dry_run: what the push would cost")
    accepted = AcceptedOut(many=True)
    skipped = SkippedOut(many=True, help_text='roles that exist, left alone (on_existing "skip")')
    refused = RefusedOut(many=True)


class FailureOut(serializers.Serializer):
    workflow_id = serializers.CharField()
    role_name = serializers.CharField()
    company_id = serializers.CharField()
    step = serializers.CharField(allow_null=True)
    error = serializers.DictField()


class BatchStatusOut(serializers.Serializer):
    batch_id = serializers.CharField()
    total = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    refused = serializers.IntegerField()
    percent_done = serializers.FloatField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    estimated_seconds_left = serializers.FloatField(allow_null=True)
    failed = FailureOut(many=True)


class RetryFailedOut(serializers.Serializer):
    batch_id = serializers.CharField()
    retried = serializers.IntegerField()
    refused = serializers.IntegerField()
