"""The Celery app: used only when REDIS_URL is set (distributed mode)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reportsite.settings")

app = Celery("reportsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The tasks live in the runtime layer (``reports/runtime/tasks.py``) and with the
# webhook and e-mail senders (``reports/notify/tasks.py``).
app.autodiscover_tasks(["reports.runtime", "reports.notify"])
