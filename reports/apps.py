from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The core's system checks and admin live in their layers; loading them here
        # registers them (job types register their pipelines in their own apps).
        from reports.events import revocations
        from reports.models.users import connect_signals
        from reports.notify.outbox import record_ending
        from reports.runtime import checks  # noqa: F401
        from reports.runtime.hooks import register_ending_hook
        from reports.web import accounts, admin, admin_notify, admin_tokens  # noqa: F401

        # A stream's ending records its webhook deliveries and the owner's e-mail notice.
        register_ending_hook(record_ending)
        # A changed user is read again by every process (reports/models/users.py).
        connect_signals()
        # ... and every process checks the open sockets of a user whose access changed.
        revocations.connect_signals()
        # Logging out says so on the page that follows.
        accounts.connect_signals()
