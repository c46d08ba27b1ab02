"""Exports in the embedded default (`make run`): SQLite, Celery run inside the web process. An
export made on the page is finished when the page answers; the command line works there too."""

import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from .test_embedded import _manage, _serving, embedded_env  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def test_an_export_made_on_the_page_is_done_when_the_page_answers(embedded_env):  # noqa: F811
    _manage(embedded_env, "migrate", "--noinput")
    _manage(embedded_env, "load_catalog")
    _manage(embedded_env, "demo_week", "--size", "300", "--labels", "40")
    password = _manage(embedded_env, "ensure_admin").split("password: ")[1].strip()

    out = Path(embedded_env["DATA_DIR"]) / "labelled.parquet"
    summary = _manage(
        embedded_env, "export", "--format", "parquet", "--out", str(out), "--label", "any"
    )
    labelled = pq.read_table(out).num_rows
    assert labelled > 0 and f"Exported {labelled} rows" in summary

    with _serving(embedded_env) as browser:
        browser.request("/accounts/login/")
        assert browser.request(
            "/accounts/login/", {"username": "admin", "password": password, "next": "/"}
        ) == (302, "/")
        status, page = browser.request("/exports/new?label=any")
        assert status == 200 and f"<strong>{labelled}</strong> decision" in page
        status, location = browser.request(
            "/exports/new", {"format": "jsonl", "test_percent": "0", "filters": "label=any"}
        )
        assert status == 302 and re.fullmatch(r"/exports/\d+", location), location
        status, detail = browser.request(location)
        # Done already: the task ran inside the request that made it.
        assert status == 200 and 'id="export-state">Done<' in detail
        assert "hx-trigger" not in detail  # nothing left to poll for
        status, body = browser.request(location + "/download")
        assert status == 200
        rows = [json.loads(line) for line in body.split("\n") if line]
        assert len(rows) == labelled and all(row["labels"] for row in rows)
