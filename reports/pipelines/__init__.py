"""Pipelines: per job type, the stages a stream runs (see ``base`` and ``registry``)."""

from __future__ import annotations

from reports.pipelines.base import OutputInvalid, Pipeline, StageContext, StageSpec
from reports.pipelines.registry import UnknownJobType, all_pipelines, get_pipeline, register

__all__ = [
    "OutputInvalid",
    "Pipeline",
    "StageContext",
    "StageSpec",
    "UnknownJobType",
    "all_pipelines",
    "get_pipeline",
    "register",
]
