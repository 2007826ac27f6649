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
    workflow_id = serializers.CharField()
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


class PushBatchOut(serializers.Serializer):
    batch_id = serializers.CharField()
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
