from __future__ import annotations

from django.apps import AppConfig


class ClientReportConfig(AppConfig):
    name = "reports.client_report"
    label = "client_report"
    verbose_name = "Client reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Plug the client report into the core, exactly as starmap does.
        from reports.client_report import pipeline

        pipeline.register()
