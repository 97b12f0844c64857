from __future__ import annotations

from django.urls import path

from reports.client_report import views

app_name = "client_report"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("reports/new/", views.job_create, name="job_create"),
    path("reports/<str:job_id>/", views.job_detail, name="job_detail"),
    path("reports/<str:job_id>/generate/", views.job_generate, name="job_generate"),
    path("reports/<str:job_id>/delete/", views.job_delete, name="job_delete"),
    path("reports/<str:job_id>/duplicate/", views.job_duplicate, name="job_duplicate"),
]
