from django.urls import path

from . import views

# Mounted at the site root by etter_site/urls.py.
urlpatterns = [
    path("api/v1/pipeline/stats", views.PipelineStatsApi.as_view(), name="operations-stats"),
    path("metrics", views.metrics_view, name="operations-metrics"),
    path("status/inbox/", views.inbox, name="operations-inbox"),
    path("status/inbox/read-all/", views.inbox_read_all, name="operations-inbox-read-all"),
    path("status/inbox/<int:pk>/read/", views.inbox_read, name="operations-inbox-read"),
]
