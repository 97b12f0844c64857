from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reports import checks  # noqa: F401  (registers system checks)
        from reports.pipelines import client_report

        client_report.register()
