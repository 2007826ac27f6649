from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from onboarding import simulator, views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="status-index", permanent=False)),
    path("admin/", admin.site.urls),
    path("", include("operations.urls")),  # before onboarding's: api/v1/pipeline/stats, metrics, inbox
    # The site composes its apps: batches build on onboarding, so their pages and endpoints
    # sit beside onboarding's under the same prefixes.
    path("status/", include("onboarding.status_urls")),
    path("status/", include("batches.status_urls")),
    path("api/v1/pipeline/", include("onboarding.api.urls")),
    path("api/v1/pipeline/", include("batches.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
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
