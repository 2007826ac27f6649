from django.urls import path

from onboarding import report_views, user_settings_page
from onboarding import status_pages as pages

urlpatterns = [
    path("", pages.index, name="status-index"),
    path("roles/<int:pk>/", pages.role_page, name="status-role"),
    path("roles/<int:pk>/live/", pages.role_live, name="status-role-live"),
    path("roles/<int:pk>/<str:action>/", pages.role_action, name="status-role-action"),
    path("companies/<int:pk>/", pages.company_page, name="status-company"),
    path(
        "companies/<int:pk>/reassess-stale/",
        pages.company_reassess_stale,
        name="status-company-reassess-stale",
    ),
    path("companies/<int:pk>/roles.csv", pages.company_csv, name="status-company-csv"),
    path("companies/<int:pk>/report.pdf", report_views.report_download, name="status-company-report"),
    path("companies/<int:pk>/share/", report_views.report_share, name="status-company-share"),
    path("shared/<str:token>/", report_views.shared_report, name="customer-report"),
    path("shared/<str:token>/report.pdf", report_views.shared_report_pdf, name="customer-report-pdf"),
    path("settings/", user_settings_page.user_settings, name="status-settings"),
]
