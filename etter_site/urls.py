from django.contrib import admin
from django.urls import path, re_path

from onboarding import simulator, views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("documents/<str:token>/", views.document_download, name="onboarding-document-download"),
    re_path(
        r"^simulator/api/automated_workflows/(?P<path>[a-z-]+)$",
        simulator.endpoint_view,
        name="onboarding-simulator-endpoint",
    ),
    path(
        "simulator/dashboard/<str:company_role_id>/",
        simulator.dashboard_view,
        name="onboarding-simulator-dashboard",
    ),
]
