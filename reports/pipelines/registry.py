"""The registry of job types: apps register their pipeline in ``AppConfig.ready``."""

from __future__ import annotations

from reports.pipelines.base import Pipeline

_pipelines: dict[str, Pipeline] = {}


class UnknownJobType(LookupError):
    pass


def register(pipeline: Pipeline) -> Pipeline:
    """Add (or replace) a job type's pipeline."""
    _pipelines[pipeline.type] = pipeline
    return pipeline


def unregister(job_type: str) -> None:
    _pipelines.pop(job_type, None)


def get_pipeline(job_type: str) -> Pipeline:
    try:
        return _pipelines[job_type]
    except KeyError:
        known = ", ".join(sorted(_pipelines)) or "none"
        raise UnknownJobType(f"Unknown job type {job_type!r} (known: {known})") from None


def all_pipelines() -> list[Pipeline]:
    return [_pipelines[key] for key in sorted(_pipelines)]
