from django.urls import path

from onboarding.api import views

urlpatterns = [
    path("push", views.PushApi.as_view(), name="pipeline-push"),
    path("status/<str:workflow_id>", views.StatusApi.as_view(), name="pipeline-status"),
    path("health", views.HealthApi.as_view(), name="pipeline-health"),
    path("companies", views.CompaniesApi.as_view(), name="pipeline-companies"),
    path("roles/<str:company_name>", views.RolesApi.as_view(), name="pipeline-roles"),
    path("retry/<str:workflow_id>", views.RetryApi.as_view(), name="pipeline-retry"),
    path("cancel/<str:workflow_id>", views.CancelApi.as_view(), name="pipeline-cancel"),
    path("history/<str:company_id>", views.HistoryApi.as_view(), name="pipeline-history"),
    path("metadata", views.MetadataApi.as_view(), name="pipeline-metadata"),
]
