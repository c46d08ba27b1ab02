"""The exports pages and API: who may make, list, read, download and cancel an export; the
explorer's link; an export made in the browser finishing within the request where Celery runs
in-process (the embedded default); untrusted text shown as text.

Personas: Vera (viewer), Rita and Rob (reviewers), Olga (policy owner), Nora (signed in, no
role); the prod proxy's gateway keys.
"""

import hashlib
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from review import roles
from review.exports import jobs
from review.models import ApiKey, Export, UserToken
from routing_app import celery_app

from .people import client_for as browser
from .people import person
from .test_exports import traffic  # noqa: F401  (a fixture)

EXPORTS = "/api/v1/exports"


def token(user: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {UserToken.issue(user=user)[1]}"})


def key_client(gateway, scopes: list[str]) -> Client:
    key = ApiKey.issue(gateway=gateway, scopes=scopes)[1]
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def vera(db) -> User:
    return person("vera", roles.VIEWER)


@pytest.fixture
def rita(db) -> User:
    return person("rita2", roles.REVIEWER)


@pytest.fixture
def rob(db) -> User:
    return person("rob2", roles.REVIEWER)


@pytest.fixture
def olga(db) -> User:
    return person("olga", roles.POLICY_OWNER)


@pytest.fixture
def nora(db) -> User:
    return person("nora", None)


@pytest.fixture
def export_dir(settings, tmp_path) -> Path:
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


@pytest.fixture
def finished(traffic, export_dir, rita) -> Export:  # noqa: F811
    made = jobs.create_export(export_format="jsonl", filters={"flag": "overkill"}, created_by=rita)
    jobs.run_export(export_id=made.pk)
    made.refresh_from_db()
    assert made.status == Export.Status.DONE
    return made


@pytest.fixture
def queued(traffic, export_dir, rita) -> Export:  # noqa: F811
    return jobs.create_export(export_format="csv", filters={}, created_by=rita)


@pytest.fixture
def eager():
    """Celery as the embedded default runs it: tasks inside the caller's process."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


# --- Pages: who may open what ---------------------------------------------------------------


def pages(export: Export) -> list[tuple[str, str]]:
    return [
        ("get", reverse("exports")),
        ("get", reverse("export-new")),
        ("get", reverse("export", args=[export.pk])),
        ("get", reverse("export-download", args=[export.pk])),
        ("post", reverse("export-cancel", args=[export.pk])),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(finished):
    for method, url in pages(finished):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_a_gateway_key_opens_no_page(finished, gateway):
    client = key_client(gateway, ["ingest", "policy:read", "export:read"])
    for method, url in pages(finished):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_a_user_without_a_role_gets_403(finished, nora):
    client = browser(nora)
    for method, url in pages(finished):
        assert getattr(client, method)(url).status_code == 403, url


def test_a_viewer_lists_reads_and_downloads_but_does_not_make_or_cancel(finished, queued, vera):
    client = browser(vera)
    listing = client.get(reverse("exports"))
    assert listing.status_code == 200
    assert f'data-export="{finished.pk}"' in listing.content.decode()
    assert "Export these rows" not in client.get(reverse("decisions")).content.decode()
    assert client.get(reverse("export", args=[finished.pk])).status_code == 200
    download = client.get(reverse("export-download", args=[finished.pk]))
    assert download.status_code == 200
    assert client.get(reverse("export-new")).status_code == 403
    assert client.post(reverse("export-cancel", args=[queued.pk])).status_code == 403
    queued.refresh_from_db()
    assert queued.status == Export.Status.QUEUED


def test_the_nav_links_to_exports_for_roles_that_read_them(vera, nora):
    explorer = reverse("decisions")
    assert f'href="{reverse("exports")}"' in browser(vera).get(explorer).content.decode()
    # Someone who may read decisions but not exports sees no link.
    nora.user_permissions.add(Permission.objects.get(codename="view_decision"))
    nora = User.objects.get(pk=nora.pk)
    page = browser(nora).get(explorer)
    assert page.status_code == 200
    assert f'href="{reverse("exports")}"' not in page.content.decode()


# --- Pages: making one ----------------------------------------------------------------------


def test_the_explorer_links_its_filters_to_a_new_export(traffic, rita):  # noqa: F811
    client = browser(rita)
    page = client.get(reverse("decisions") + "?flag=overkill&tier=large&limit=20").content
    link = f"{reverse('export-new')}?tier=large&amp;flag=overkill&amp;limit=20"
    assert link in page.decode()
    new = client.get(reverse("export-new") + "?tier=large&flag=overkill&limit=20")
    assert new.status_code == 200
    body = new.content.decode()
    # Paging is not a filter: the export holds every page.
    assert "limit=" not in body.split('name="filters"')[1].split(">")[0]
    expected = len(
        [d for d in traffic if d.served_tier.name == "large" and d.flags.filter(kind="overkill")]
    )
    assert f"<strong>{expected}</strong> decision" in body


def test_an_export_made_in_the_browser_finishes_within_the_request_when_tasks_run_inline(
    traffic,  # noqa: F811
    rita,
    export_dir,
    eager,
    django_capture_on_commit_callbacks,
):
    client = browser(rita)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("export-new"),
            {"format": "parquet", "test_percent": "20", "filters": "flag=overkill"},
        )
    made = Export.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("export", args=[made.pk])
    assert made.status == Export.Status.DONE and made.created_by == rita
    assert made.filters == {"flag": "overkill"} and made.test_percent == 20
    detail = client.get(response["Location"]).content.decode()
    assert "Done" in detail and made.checksum in detail
    download = client.get(reverse("export-download", args=[made.pk]))
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == made.checksum == download["X-Checksum-SHA256"]
    assert body.startswith(b"PAR1")
    assert f'filename="routing-review-export-{made.pk}.parquet"' in download["Content-Disposition"]


@pytest.mark.parametrize(
    ("post", "named"),
    [
        ({"format": "xml", "filters": ""}, "Select a valid choice"),
        ({"format": "jsonl", "test_percent": "100", "filters": ""}, "less than or equal to 99"),
    ],
)
def test_a_bad_export_form_answers_400_and_says_why(traffic, rita, post, named):  # noqa: F811
    response = browser(rita).post(reverse("export-new"), post)
    assert response.status_code == 400
    assert named in response.content.decode()
    assert not Export.objects.exists()


def test_bad_filters_are_named_and_nothing_can_be_started(traffic, rita):  # noqa: F811
    client = browser(rita)
    page = client.get(reverse("export-new") + "?tier=gigantic&colour=red").content.decode()
    assert "<strong>tier</strong>: Select a valid choice" in page
    assert "<strong>colour</strong>: is not an explorer filter" in page
    assert 'id="start-export"' not in page
    posted = client.post(reverse("export-new"), {"format": "jsonl", "filters": "tier=gigantic"})
    assert posted.status_code == 400 and not Export.objects.exists()


def test_filter_text_is_shown_as_text(traffic, rita, export_dir):  # noqa: F811
    hostile = "<script>alert('x')</script>"
    made = jobs.create_export(export_format="jsonl", filters={"q": hostile}, created_by=rita)
    client = browser(rita)
    for url in (
        reverse("exports"),
        reverse("export", args=[made.pk]),
        reverse("export-new") + "?q=%3Cscript%3Ealert('x')%3C/script%3E",
    ):
        body = client.get(url).content.decode()
        assert hostile not in body, url
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body, url


# --- Pages: progress and cancelling ---------------------------------------------------------


def test_a_running_export_shows_its_progress_and_polls(queued, rita):
    Export.objects.filter(pk=queued.pk).update(status="running", done=10, total=40)
    body = browser(rita).get(reverse("export", args=[queued.pk])).content.decode()
    assert 'aria-valuenow="25"' in body and "width: 25%" in body
    assert 'hx-trigger="every 2s"' in body
    Export.objects.filter(pk=queued.pk).update(status="cancelled")
    assert (
        'hx-trigger="every 2s"'
        not in browser(rita).get(reverse("export", args=[queued.pk])).content.decode()
    )


def test_whoever_made_an_export_or_a_policy_owner_cancels_it(queued, rita, rob, olga):
    url = reverse("export-cancel", args=[queued.pk])
    assert browser(rob).post(url).status_code == 403
    assert browser(rita).post(url).status_code == 302
    queued.refresh_from_db()
    assert queued.status == Export.Status.CANCELLED
    other = jobs.create_export(export_format="csv", filters={}, created_by=rita)
    assert browser(olga).post(reverse("export-cancel", args=[other.pk])).status_code == 302
    other.refresh_from_db()
    assert other.status == Export.Status.CANCELLED


# --- API ------------------------------------------------------------------------------------


def post_export(client: Client, body: dict) -> object:
    return client.post(EXPORTS, data=json.dumps(body), content_type="application/json")


def test_the_api_makes_an_export_from_filters(traffic, rita, export_dir):  # noqa: F811
    response = post_export(
        token(rita), {"format": "csv", "filters": {"flag": "overkill"}, "test_percent": 10}
    )
    assert response.status_code == 201
    made = response.json()
    assert made["status"] == "queued" and made["filters"] == {"flag": "overkill"}
    assert made["created_by"] == "rita2" and made["download"] is None
    assert Export.objects.get(pk=made["id"]).test_percent == 10


def test_the_api_makes_an_export_within_the_request_when_tasks_run_inline(
    traffic,  # noqa: F811
    rita,
    export_dir,
    eager,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_export(token(rita), {"format": "routellm_pairs"})
    # The response was built before the commit hooks ran here; the row says what happened.
    made = Export.objects.get(pk=response.json()["id"])
    assert made.status == Export.Status.DONE and made.row_count > 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"format": "xml"}, {"format"}),
        ({"format": "jsonl", "filters": {"tier": "gigantic"}}, {"tier"}),
        ({"format": "jsonl", "filters": {"after": "x", "limit": "5"}}, {"after", "limit"}),
        ({"format": "jsonl", "filters": {"colour": "red"}}, {"colour"}),
        ({"format": "jsonl", "test_percent": 100}, {"test_percent"}),
        ({"format": "jsonl", "filters": "flag=overkill"}, {"filters"}),
        ({"format": "jsonl", "colour": "red"}, {"colour"}),
        ({}, {"format"}),
    ],
)
def test_the_api_names_every_bad_field(traffic, rita, body, fields):  # noqa: F811
    response = post_export(token(rita), body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error["fields"]) == fields, error
    assert not Export.objects.exists()


def test_api_permissions_for_people(finished, queued, vera, rob, nora):
    status_url, download_url = f"{EXPORTS}/{finished.pk}", f"{EXPORTS}/{finished.pk}/download"
    # Anonymous: 401 everywhere.
    for method, url in [
        ("get", EXPORTS),
        ("post", EXPORTS),
        ("get", status_url),
        ("get", download_url),
        ("post", f"{EXPORTS}/{queued.pk}/cancel"),
    ]:
        assert getattr(Client(), method)(url).status_code == 401, url
    # No role: 403.
    assert token(nora).get(EXPORTS).status_code == 403
    assert token(nora).get(download_url).status_code == 403
    # A viewer reads and downloads, but makes nothing and cancels nothing.
    viewer = token(vera)
    assert viewer.get(EXPORTS).status_code == 200
    assert viewer.get(status_url).json()["row_count"] == finished.row_count
    assert viewer.get(download_url).status_code == 200
    assert post_export(viewer, {"format": "jsonl"}).status_code == 403
    assert viewer.post(f"{EXPORTS}/{queued.pk}/cancel").status_code == 403
    # Another reviewer cannot cancel Rita's export.
    refused = token(rob).post(f"{EXPORTS}/{queued.pk}/cancel")
    assert refused.status_code == 403
    assert "only whoever made an export" in refused.json()["error"]["message"]


def test_gateway_keys_read_status_and_download_with_the_export_scope_only(
    finished, queued, gateway
):
    reader = key_client(gateway, ["export:read"])
    status = reader.get(f"{EXPORTS}/{finished.pk}")
    assert status.status_code == 200 and status.json()["checksum"] == finished.checksum
    download = reader.get(f"{EXPORTS}/{finished.pk}/download")
    assert download.status_code == 200
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == finished.checksum
    # Nothing else, and nothing at all without the scope.
    for response in (
        reader.get(EXPORTS),
        post_export(reader, {"format": "jsonl"}),
        reader.post(f"{EXPORTS}/{queued.pk}/cancel"),
    ):
        assert response.status_code == 403
        assert "gateway key may only read an export's status" in response.json()["error"]["message"]
    ingest_only = key_client(gateway, ["ingest"])
    refused = ingest_only.get(f"{EXPORTS}/{finished.pk}/download")
    assert refused.status_code == 403
    assert "lacks the 'export:read' scope" in refused.json()["error"]["message"]
    # A key in the query string is refused outright (it would end up in logs).
    leaked = ApiKey.issue(gateway=gateway, scopes=["export:read"])[1]
    assert Client().get(f"{EXPORTS}/{finished.pk}/download?key={leaked}").status_code == 401


def test_download_answers_409_while_running_and_410_once_gone(finished, queued, vera):
    client = token(vera)
    running = client.get(f"{EXPORTS}/{queued.pk}/download")
    assert running.status_code == 409 and running.json()["error"]["code"] == "not_ready"
    jobs.expire(now=finished.expires_at)
    gone = client.get(f"{EXPORTS}/{finished.pk}/download")
    assert gone.status_code == 410 and "it is expired" in gone.json()["error"]["message"]
    assert client.get(f"{EXPORTS}/999999").status_code == 404


def test_the_api_lists_newest_first_with_a_next_link(traffic, rita, vera, export_dir):  # noqa: F811
    made = [jobs.create_export(export_format="jsonl", filters={}, created_by=rita) for _ in "abc"]
    first = token(vera).get(f"{EXPORTS}?limit=2").json()
    assert [e["id"] for e in first["results"]] == [made[2].pk, made[1].pk]
    second = token(vera).get(first["next"]).json()
    assert [e["id"] for e in second["results"]] == [made[0].pk] and second["next"] is None
    assert token(vera).get(f"{EXPORTS}?colour=red").status_code == 400


def test_the_api_cancels_for_the_maker_and_refuses_a_finished_export(queued, finished, rita):
    client = token(rita)
    cancelled = client.post(f"{EXPORTS}/{queued.pk}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"{EXPORTS}/{finished.pk}/cancel")
    assert again.status_code == 409 and "already finished" in again.json()["error"]["message"]
