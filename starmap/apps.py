from __future__ import annotations

from django.apps import AppConfig


class StarmapConfig(AppConfig):
    name = "starmap"
    verbose_name = "Starmap"
    default_auto_field = "django.db.models.BigAutoField"
