from __future__ import annotations

from django.apps import AppConfig


class StarmapConfig(AppConfig):
    name = "starmap"
    verbose_name = "Starmap"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Plug the starmap job type into the core; `reports` never imports `starmap`.
        from starmap import pipeline

        pipeline.register()
