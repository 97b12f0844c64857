"""The page for editing a stage by hand: the stage's text (or JSON) in a form, what will
run and be kept with the forecast before the click; errors on the page, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import Report, StreamingJob
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from tests.conftest import csrf_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed(make_stream: Any, fake_provider: FakeProvider) -> StreamingJob:
    stream = make_stream()
    assert run_stream(stream.pk) == "completed"
    return StreamingJob.objects.get(pk=stream.pk)


def url(stream: StreamingJob, key: str) -> str:
    return f"/streams/{stream.pk}/stages/{key}/edit/"


def test_the_page_shows_the_text_and_what_will_run(completed: StreamingJob, api: Client) -> None:
    page = api.get(url(completed, "recommendations")).content.decode()
    assert completed.stages.get(key="recommendations").output.split("\n")[0] in page
    assert "Generated again: they read it (2)" in page and "Kept as they are (4)" in page
    assert "Forecast: about" in page and "medians of 1 earlier run" in page
    assert "Save and rerun 2 stages" in page


def test_saving_prose_starts_the_edit_and_marks_it(
    completed: StreamingJob, api: Client, fake_provider: FakeProvider
) -> None:
    response = api.post(url(completed, "summary"), csrf_form(api, {"text": "By hand."}))
    fork = StreamingJob.objects.exclude(pk=completed.pk).get()
    assert response.status_code == 302 and response["Location"] == fork.get_absolute_url()
    run_stream(fork.pk)
    stream_page = api.get(fork.get_absolute_url()).content.decode()
    assert "edited</span>" in stream_page and stream_page.count("kept from v1</span>") == 5
    document = api.get(Report.objects.get(stream=fork).get_absolute_url()).content.decode()
    assert "Edited by hand</dt><dd class=\"doc-edited\">Executive summary" in document


def test_a_json_stage_is_edited_as_json_and_checked(completed: StreamingJob, api: Client) -> None:
    page = api.get(url(completed, "outline")).content.decode()
    assert "Outline as JSON" in page and "&quot;sections&quot;" in page
    bad = api.post(url(completed, "outline"), csrf_form(api, {"text": "{not json"}))
    assert bad.status_code == 200 and "The data is not valid JSON" in bad.content.decode()
    short = json.dumps({"sections": [{"title": "One", "purpose": "Only one"}]})
    refused = api.post(url(completed, "outline"), csrf_form(api, {"text": short})).content
    assert b"does not fit the stage&#x27;s schema" in refused and b"data.sections" in refused
    assert StreamingJob.objects.count() == 1
    good = json.dumps({"sections": [{"title": "One", "purpose": "A"},
                                    {"title": "Two", "purpose": "B"}]})
    assert api.post(url(completed, "outline"), csrf_form(api, {"text": good})).status_code == 302


def test_blank_text_is_refused_on_the_page(completed: StreamingJob, api: Client) -> None:
    response = api.post(url(completed, "summary"), csrf_form(api, {"text": "   "}))
    assert response.status_code == 200 and b"Not saved." in response.content
    assert b"This field cannot be blank" in response.content  # the reason, not just "invalid"
    assert StreamingJob.objects.count() == 1


def test_the_stream_and_the_document_offer_edit_for_model_stages(
    completed: StreamingJob, api: Client
) -> None:
    stream_page = api.get(completed.get_absolute_url()).content.decode()
    assert stream_page.count(">Edit</a>") == 6  # every stage but the assembly
    document = api.get(Report.objects.get(stream=completed).get_absolute_url()).content.decode()
    assert url(completed, "sections") in document and url(completed, "assembly") not in document


@pytest.mark.parametrize("key", ["assembly", "nope"])
def test_a_stage_that_cannot_be_edited_is_a_404(
    completed: StreamingJob, api: Client, key: str
) -> None:
    assert api.get(url(completed, key)).status_code == 404


def test_someone_else_gets_a_404(completed: StreamingJob, other_user: User) -> None:
    client = Client()
    client.force_login(other_user)
    assert client.get(url(completed, "summary")).status_code == 404
    assert client.post(url(completed, "summary"), {"text": "x"}).status_code == 404
    assert StreamingJob.objects.count() == 1


def test_a_post_without_csrf_is_refused(completed: StreamingJob, user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(url(completed, "summary"), {"text": "x"}).status_code == 403
    assert StreamingJob.objects.count() == 1


def test_a_generating_stream_says_to_wait(make_stream: Any, api: Client) -> None:
    stream = make_stream()
    page = api.get(url(stream, "summary")).content.decode()
    assert "edit it once it has finished" in page and 'name="text"' not in page
    refused = api.post(url(stream, "summary"), csrf_form(api, {"text": "x"}))
    assert refused.status_code == 200 and StreamingJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # the starmap's side-by-side stages run on threads
def test_the_starmap_objectives_are_edited_with_their_schema(
    user: User, fake_provider: FakeProvider
) -> None:
    from reports.streams.services import create_streaming_job
    from tests.starmap.conftest import STARMAP_INPUT

    stream, _ = create_streaming_job(user=user, type="starmap", input_data=STARMAP_INPUT)
    assert run_stream(stream.pk) == "completed"
    client = Client()
    client.force_login(user)
    page = client.get(url(stream, "objectives")).content.decode()
    # The schema the list editor is built from, with the Bloom levels as choices.
    assert 'id="stage-schema"' in page and "&quot;objectives&quot;" in page
    assert '"enum": ["remember"' in page
    assert "Generated again: they read it (6)" in page and "Kept as they are (3)" in page
