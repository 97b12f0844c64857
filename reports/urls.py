from __future__ import annotations

from django.urls import path

from reports import analytics_views, views

app_name = "reports"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("analytics/", analytics_views.analytics_page, name="analytics"),
    path("reports/new/", views.job_create, name="job_create"),
    path("reports/<str:job_id>/", views.job_detail, name="job_detail"),
    path("reports/<str:job_id>/generate/", views.job_generate, name="job_generate"),
    path("streams/<str:stream_id>/", views.stream_detail, name="stream_detail"),
    path("streams/<str:stream_id>/resume/", views.stream_resume, name="stream_resume"),
    path("streams/<str:stream_id>/cancel/", views.stream_cancel, name="stream_cancel"),
    path("streams/<str:stream_id>/stages/<str:key>/retry/", views.stage_retry, name="stage_retry"),
    path("documents/<str:report_id>/", views.report_detail, name="report_detail"),
    path("documents/<str:report_id>/download.md", views.report_download, name="report_download"),
]
