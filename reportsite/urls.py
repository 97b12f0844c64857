from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from reports.live import sse
from reports.web import accounts, health
from reports.web import views as report_views
from reports.web.api import api

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # Pages link the icon; this is for what browsers ask by habit (the admin, raw JSON).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/signup/", report_views.signup, name="signup"),
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    # Before the ninja API: an async streaming view (SSE), not a ninja operation.
    path("api/streams/<str:stream_id>/events/", sse.stream_events, name="stream_events"),
    path("api/", api.urls),
    path("starmap/", include("starmap.urls")),
    path("", include("reports.web.urls")),
    path("", include("reports.client_report.urls")),
]
