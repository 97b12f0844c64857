from __future__ import annotations

from django.urls import path

from starmap import views

app_name = "starmap"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("new/", views.job_create, name="job_create"),
    path("<str:job_id>/", views.job_detail, name="job_detail"),
    path("<str:job_id>/generate/", views.job_generate, name="job_generate"),
    path("<str:job_id>/delete/", views.job_delete, name="job_delete"),
    path("<str:job_id>/duplicate/", views.job_duplicate, name="job_duplicate"),
]
