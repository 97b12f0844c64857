"""Runner backends are chosen by ``STREAM_RUNNER``: a short name or a dotted path."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from reports.runtime.checks import check_runner
from reports.runtime.runners import RunnerBackend, get_runner
from reports.runtime.runners.embedded import EmbeddedRunner


class RecordingRunner(RunnerBackend):
    """A backend defined outside the core, loaded by its dotted path."""

    enqueued: ClassVar[list[str]] = []

    def enqueue(self, stream_id: uuid.UUID | str) -> None:
        self.enqueued.append(str(stream_id))


NOT_A_RUNNER = object()
PATH = f"{__name__}.RecordingRunner"


def test_a_dotted_path_loads_that_backend_and_services_hand_it_new_streams(
    make_stream: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STREAM_RUNNER = PATH
    RecordingRunner.enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        stream = make_stream()
    assert isinstance(get_runner(), RecordingRunner)
    assert RecordingRunner.enqueued == [str(stream.pk)]


def test_short_names_are_the_built_in_backends(settings: Any) -> None:
    settings.STREAM_RUNNER = "embedded"
    assert type(get_runner()) is EmbeddedRunner
    assert get_runner() is get_runner()  # one per process


def test_the_check_refuses_a_runner_that_cannot_be_loaded(settings: Any) -> None:
    assert check_runner() == []
    settings.STREAM_RUNNER = "reports.runtime.runners.nowhere.Runner"
    assert [error.id for error in check_runner()] == ["reports.E006"]
    settings.STREAM_RUNNER = f"{__name__}.NOT_A_RUNNER"
    (error,) = check_runner()
    assert "is not a RunnerBackend" in error.msg
