from django.urls import path

from batches import pages

urlpatterns = [
    path("batches/<int:pk>/", pages.batch_page, name="status-batch"),
    path("batches/<int:pk>/live/", pages.batch_live, name="status-batch-live"),
    path("batches/<int:pk>/retry-failed/", pages.batch_retry, name="status-batch-retry"),
]
