"""What every page's layout needs: the job types to link to in the navigation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from reports.pipelines import all_pipelines


def job_types(request: HttpRequest) -> dict[str, Any]:
    """``nav_job_types``: ``(label, url)`` of each registered job type with a page."""
    return {
        "nav_job_types": [
            (pipeline.nav_label or pipeline.title, reverse(pipeline.list_url_name))
            for pipeline in sorted(all_pipelines(), key=lambda p: p.nav_order)
            if pipeline.list_url_name
        ]
    }
