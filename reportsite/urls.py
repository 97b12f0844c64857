from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from reports import views as report_views
from reports.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", report_views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", api.urls),
    path("starmap/", include("starmap.urls")),
    path("", include("reports.urls")),
]
