"""The Celery app for bench workers: the site's app plus the bench pipeline.

Run as ``celery -A bench.worker_app worker ...`` (bench/run_bench.py does).
"""

from __future__ import annotations

import django

from reportsite.celery import app

django.setup()

from bench.pipeline import register  # noqa: E402  (needs the app registry)

register()

__all__ = ["app"]
