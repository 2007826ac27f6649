from django.urls import path

from batches import fix_pages, pages

urlpatterns = [
    path("batches/<int:pk>/", pages.batch_page, name="status-batch"),
    path("batches/<int:pk>/live/", pages.batch_live, name="status-batch-live"),
    path("batches/<int:pk>/retry-failed/", pages.batch_retry, name="status-batch-retry"),
    path("batches/<int:pk>/to-fix.csv", fix_pages.batch_fix_csv, name="status-batch-fix-csv"),
    path("batches/<int:pk>/fix/", fix_pages.batch_fix_upload, name="status-batch-fix"),
    path("batches/id/<str:batch_key>/", pages.batch_by_key, name="status-batch-by-key"),
]
