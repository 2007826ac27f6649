from django.urls import path

from batches import api

urlpatterns = [
    path("push-batch", api.PushBatchApi.as_view(), name="pipeline-push-batch"),
    path("batch-status/<str:batch_id>", api.BatchStatusApi.as_view(), name="pipeline-batch-status"),
    path("retry-failed/<str:batch_id>", api.RetryFailedApi.as_view(), name="pipeline-retry-failed"),
]
