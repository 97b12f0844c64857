from __future__ import annotations

from django.urls import path

from reports.web import dev, edits, forecasts, forks, settings_page, views
from reports.web.analytics import views as analytics_views

app_name = "reports"

urlpatterns = [
    path("dev/client/", dev.client_example, name="client_example"),
    path("analytics/", analytics_views.analytics_page, name="analytics"),
    path("settings/", settings_page.settings_page, name="settings"),
    path("forecast/<str:job_type>/", forecasts.forecast_panel, name="forecast_panel"),
    path("streams/<str:stream_id>/", views.stream_detail, name="stream_detail"),
    path("streams/<str:stream_id>/resume/", views.stream_resume, name="stream_resume"),
    path("streams/<str:stream_id>/cancel/", views.stream_cancel, name="stream_cancel"),
    path("streams/<str:stream_id>/stages/<str:key>/retry/", views.stage_retry, name="stage_retry"),
    path("streams/<str:stream_id>/stages/<str:key>/edit/", edits.stage_edit_page,
         name="stage_edit"),
    path("streams/<str:stream_id>/stages/<str:key>/review/", views.stage_review,
         name="stage_review"),
    path("streams/<str:stream_id>/fork/", forks.fork_page, name="stream_fork"),
    path("streams/<str:stream_id>/fork/plan/", forks.fork_plan, name="stream_fork_plan"),
    path("jobs/<str:job_id>/versions/", forks.versions_panel, name="job_versions"),
    path("documents/<str:report_id>/diff/<str:other_id>/", forks.version_diff,
         name="version_diff"),
    path("documents/<str:report_id>/", views.report_detail, name="report_detail"),
    path("documents/<str:report_id>/download.md", views.report_download, name="report_download"),
]
