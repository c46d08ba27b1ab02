"""Exports: every format written and read back with its real reader, the explorer's rows in the
explorer's order, the stable split, what labels agree on, RouteLLM's two shapes, CSV cells that
a spreadsheet cannot run, the command line, and the job's upkeep (expiry, sweep).

Personas: Rita (reviewer, from conftest) and Rob, a second reviewer; the prod proxy's traffic.
"""

import csv
import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pandas
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.http import QueryDict
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from review import explorer, roles
from review.cases import suggested_tier
from review.detection import Detector
from review.exports import formats, jobs, records
from review.features import prompt_features
from review.models import (
    Assessment,
    Decision,
    Export,
    Flag,
    Label,
    QueueItem,
    ReviewRound,
    Tier,
    Verdict,
)
from routing_app import celery_app

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TRICKY_PROMPTS = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    'He said "hi", then left,\r\nand came back.',
    "Zürich → 東京, naïve café ✓",
    "<script>alert('x')</script>",
    "",
]


# --- Builders -----------------------------------------------------------------------------------


@pytest.fixture
def rob(db: None) -> User:
    roles.ensure_roles()
    user = User.objects.create_user("rob", "rob@example.com", "correct horse battery")
    return user


def assess(decision: Decision, tiers: dict[str, Tier], needed: str = "small") -> Assessment:
    return Assessment.objects.create(
        decision=decision,
        difficulty=0.2,
        needed_tier=tiers[needed],
        features=prompt_features(decision.prompt_text).as_dict(),
        detector_version="heuristic-r1",
    )


def flag(decision: Decision, kind: str = "overkill", confidence: float = 0.8) -> Flag:
    return Flag.objects.create(
        decision=decision,
        kind=kind,
        confidence=confidence,
        dollars=Decimal("0.01234567"),
        reasons=["gpt-4o served a 12-token greeting", "=not a formula"],
        detector_version=Detector.current().version,
    )


def label(decision: Decision, reviewer: User, verdict: str, right_tier: Tier | None) -> Label:
    return Label.objects.create(
        decision=decision, reviewer=reviewer, verdict=verdict, right_tier=right_tier, note="n"
    )


@pytest.fixture
def traffic(
    make_decision: Callable[..., Decision], tiers: dict[str, Tier], reviewer: User, rob: User
) -> list[Decision]:
    """Forty decisions a week long: every tier, errors, tricky prompts, flags on some,
    assessments on most, labels single, unanimous and split."""
    made = []
    models = ["gpt-4o-mini", "gpt-4o", "o3", "claude-sonnet-4-5"]
    for number in range(40):
        decision = make_decision(
            models[number % 4],
            occurred_at=T0 - timedelta(hours=4 * number),
            prompt_text=TRICKY_PROMPTS[number % len(TRICKY_PROMPTS)] + f" #{number}",
            router_category=["faq", "code", "math"][number % 3],
            router_score=number / 40,
            cost_usd=Decimal(number) / Decimal(1000) if number % 5 else None,
            status="error" if number % 7 == 0 else "success",
            error_type="timeout" if number % 7 == 0 else "",
            fallback_chain=["gpt-4o-mini"] if number % 6 == 0 else [],
            user_feedback=-1 if number % 9 == 0 else None,
            judge_score=0.5 if number % 4 == 0 else None,
        )
        if number % 8:
            assess(decision, tiers)
        if number % 3 == 0:
            flag(decision, confidence=0.5 + number / 100)
        if number % 10 == 0:
            flag(decision, kind="underpowered", confidence=0.3 + number / 200)
        made.append(decision)
    # Labels: single (cheaper), unanimous (stronger), split, correct, no model fits, unsure.
    # Served tiers by position: 0 small, 1 large, 2 reasoning, 3 large (models above).
    for decision in made[1:30:2]:
        label(decision, reviewer, "should_be_cheaper", tiers["small"])
    for decision in made[16:30:4]:
        label(decision, reviewer, "should_be_stronger", tiers["reasoning"])
        label(decision, rob, "should_be_stronger", tiers["reasoning"])
    label(made[2], reviewer, "should_be_stronger", tiers["reasoning"])  # already reasoning
    label(made[4], reviewer, "correct", None)
    label(made[8], reviewer, "correct", tiers["small"])
    label(made[8], rob, "should_be_cheaper", tiers["small"])
    label(made[32], reviewer, "no_model_fits", None)
    label(made[34], reviewer, "unsure", None)
    return made


def selection(query: str = "") -> records.Selection:
    data = records.clean_filters(QueryDict(query))
    return records.Selection(data=data, detector_version=Detector.current().version)


def expected_records(query: str = "", test_percent: int = 0) -> list[dict[str, Any]]:
    chosen = selection(query)
    tiers = records.Tiers()
    out: list[dict[str, Any]] = []
    for chunk in chosen.chunks(size=500):
        out.extend(
            records.build(
                chunk,
                tiers=tiers,
                test_percent=test_percent,
                detector_version=chosen.detector_version,
            )
        )
    return out


def export(tmp_path: Path, export_format: str, query: str = "", **options: Any) -> Path:
    target = tmp_path / f"out.{export_format}"
    jobs.write_export(target, export_format=export_format, selection=selection(query), **options)
    return target


def plain(value: Any) -> Any:
    """A value as JSON has it: times in ISO 8601, money as a number."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def explorer_ids(query: str) -> list[int]:
    """The explorer's rows as a person pages through them: 50 at a time, by its own links."""
    ids: list[int] = []
    params = QueryDict(query)
    while True:
        form = explorer.FilterForm(params)
        assert form.is_valid(), form.errors
        page = explorer.page(form.cleaned_data)
        ids.extend(d.pk for d in page.decisions)
        if page.next_cursor is None:
            return ids
        params = QueryDict(explorer.query_string(form.cleaned_data, after=page.next_cursor))


# --- The explorer's rows --------------------------------------------------------------------


FILTER_SETS = [
    "",
    "flag=overkill",
    "flag=none&status=error",
    "label=any&tier=large",
    "label=should_be_stronger",
    "sort=cost&order=asc",
    "sort=cost&order=desc",
    "sort=confidence",
    "q=hyperlink&order=asc",
    f"since={(T0 - timedelta(days=3)).strftime('%Y-%m-%dT%H:%M:%S')}&until=2026-11-30T06:00:00",
    "category=code&sort=time&order=asc",
]


@pytest.mark.parametrize("query", FILTER_SETS)
def test_the_export_rows_are_the_explorers_rows_in_its_order(traffic, tmp_path, query):
    # Chunks of 7 cross many page boundaries; the explorer pages by 50.
    path = export(tmp_path, "jsonl", query, chunk_rows=7)
    exported = [json.loads(line)["id"] for line in path.read_bytes().split(b"\n")[:-1]]
    assert exported == explorer_ids(query)
    assert len(exported) == selection(query).count()


def test_the_filters_select_something_in_the_sample(traffic):
    # The parametrised test above would pass on empty selections too; it does not get them.
    for query in FILTER_SETS:
        assert selection(query).count() > 0, query


def test_paging_parameters_and_unknown_filters_are_refused_by_name():
    with pytest.raises(records.InvalidExport) as refused:
        records.clean_filters({"after": "abc", "limit": "5", "colour": "red", "flag": "bogus"})
    fields = refused.value.fields
    assert set(fields) == {"after", "limit", "colour", "flag"}
    assert "every page" in fields["after"]
    assert "not an explorer filter" in fields["colour"]
    assert "valid choice" in fields["flag"]


# --- Round trips ----------------------------------------------------------------------------


def test_jsonl_round_trips_with_the_json_module(traffic, tmp_path):
    expected = expected_records()
    path = export(tmp_path, "jsonl")
    read = [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]
    assert read == [plain(record) for record in expected]
    assert len(read) == 40
    # The record holds what a trainer needs, labels with reviewer and time among it.
    labelled = next(r for r in read if r["agreement"] == "unanimous")
    assert {label["reviewer"] for label in labelled["labels"]} == {"rita", "rob"}
    assert labelled["labels"][0]["created_at"]
    assert labelled["right_tier"] == "reasoning" and labelled["verdict"] == "should_be_stronger"
    assert read[1]["features"]["tokens"] > 0 and read[0]["features"] is None


def test_csv_round_trips_with_the_csv_module(traffic, tmp_path):
    expected = expected_records()
    path = export(tmp_path, "csv")
    raw = path.read_bytes()
    assert raw.count(b"\r\n") >= 41  # RFC 4180 line ends
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == formats.NAMES
    assert [from_csv(row) for row in rows] == [as_csv_has_it(record) for record in expected]


def as_csv_has_it(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON record, less the one thing CSV cannot say: a text field's null is empty."""
    import pyarrow as pa

    text = {f.name for f in formats.FIELDS if pa.types.is_string(f.type)}
    return {
        name: "" if value is None and name in text else value
        for name, value in plain(record).items()
    }


def from_csv(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row read back into the JSON record's types, by the Parquet schema's field types."""
    import pyarrow as pa

    out: dict[str, Any] = {}
    for item in formats.FIELDS:
        cell = row[item.name]
        kind = item.type
        if pa.types.is_string(kind):
            out[item.name] = formats.restore_cell(cell)
        elif cell == "":
            out[item.name] = None
        elif pa.types.is_boolean(kind):
            out[item.name] = {"true": True, "false": False}[cell]
        elif pa.types.is_integer(kind):
            out[item.name] = int(cell)
        elif pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            out[item.name] = float(cell)
        elif pa.types.is_timestamp(kind):
            out[item.name] = datetime.fromisoformat(cell).isoformat()
        else:
            out[item.name] = json.loads(cell)
    return out


def test_parquet_round_trips_with_typed_columns(traffic, tmp_path):
    expected = expected_records()
    path = export(tmp_path, "parquet")
    table = pq.read_table(path)
    assert table.schema.field("occurred_at").type == formats.TIMESTAMP
    assert str(table.schema.field("cost_usd").type) == "decimal128(14, 8)"
    assert table.schema.field("labels").type.value_type == formats.LABEL
    assert table.to_pylist() == [parquet_shaped(record) for record in expected]


def parquet_shaped(record: dict[str, Any]) -> dict[str, Any]:
    # Parquet keeps every struct field (null when missing); the records hold the same values.
    if record["features"] is None:
        return record
    keys = formats.FEATURES.names
    return {**record, "features": {key: record["features"].get(key) for key in keys}}


def test_the_hugging_face_folder_loads_with_the_datasets_library(traffic, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    folder = tmp_path / "dataset"
    written = jobs.write_export(
        folder, export_format="hf_dataset", selection=selection(), test_percent=25
    )
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert set(loaded) == {"train", "test"}
    expected = {record["id"]: parquet_shaped(record) for record in expected_records("", 25)}
    seen = 0
    for split in ("train", "test"):
        for row in loaded[split]:
            assert row["split"] == split
            assert row == expected[row["id"]]
            seen += 1
    assert seen == len(expected) == written.rows
    card = (folder / "README.md").read_text()
    assert "path: data/train-*.parquet" in card and "path: data/test-*.parquet" in card
    assert f"| test | {len(loaded['test'])} |" in card
    assert "| should_be_cheaper |" in card  # the label distribution
    assert "| `right_tier` |" in card  # the fields


def test_the_dataset_card_escapes_filter_text(traffic, tmp_path):
    folder = tmp_path / "dataset"
    jobs.write_export(
        folder,
        export_format="hf_dataset",
        selection=selection("q=a|b`c"),
        filters={"q": "a|b`c\n# Heading"},
    )
    card = (folder / "README.md").read_text()
    assert "| q | a\\|b\\`c # Heading |" in card


# --- Splits and agreement -------------------------------------------------------------------


def test_the_split_is_stable_by_event_id_whatever_the_filters_or_order(traffic):
    everything = {r["event_id"]: r["split"] for r in expected_records("", 30)}
    assert set(everything.values()) == {"train", "test"}
    some = expected_records("flag=overkill&sort=confidence", 30)
    assert all(everything[r["event_id"]] == r["split"] for r in some)
    # The rule itself: the first 8 bytes of the SHA-256 of the event id, modulo 100.
    event_id = traffic[0].event_id
    bucket = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "big") % 100
    assert records.split_of(event_id, 30) == ("test" if bucket < 30 else "train")
    assert records.split_of(event_id, 0) is None


def test_agreement_single_unanimous_and_split(traffic, tiers):
    by_id = {r["id"]: r for r in expected_records()}
    single = by_id[traffic[1].pk]
    assert (single["verdict"], single["right_tier"], single["agreement"]) == (
        "should_be_cheaper",
        "small",
        "single",
    )
    both = by_id[traffic[16].pk]
    assert (both["right_tier"], both["right_tier_rank"], both["agreement"]) == (
        "reasoning",
        tiers["reasoning"].rank,
        "unanimous",
    )
    split = by_id[traffic[8].pk]
    assert (split["verdict"], split["right_tier"], split["agreement"]) == (None, None, "split")
    # A label without a right tier counts as the tier its verdict implies: here the served one.
    implied = by_id[traffic[4].pk]
    assert implied["right_tier"] == traffic[4].served_tier.name
    assert by_id[traffic[12].pk]["agreement"] is None


@pytest.mark.parametrize("verdict", [v for v, _ in Verdict.choices])
def test_the_implied_right_tier_follows_the_case_pages_rule(tiers, verdict):
    known = records.Tiers()
    for served in [*tiers.values(), None]:
        case_page = suggested_tier(Decision(served_tier=served), verdict, list(tiers.values()))
        assert known.implied(served, verdict) == case_page, (served, verdict)


def test_labels_given_blind_are_left_out_for_everyone(traffic, reviewer):
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 23), labels_per_item=2)
    waiting = traffic[1]  # one label of the two the round wants
    QueueItem.objects.create(round=review_round, decision=waiting, source="flag", position=0)
    record = next(r for r in expected_records() if r["id"] == waiting.pk)
    assert record["labels"] == [] and record["labels_hidden"] is True
    assert record["verdict"] is None and record["agreement"] is None
    review_round.closed_at = timezone.now()
    review_round.save()
    record = next(r for r in expected_records() if r["id"] == waiting.pk)
    assert record["labels_hidden"] is False and record["labels"][0]["reviewer"] == "rita"


# --- RouteLLM -------------------------------------------------------------------------------


def test_routellm_pairs_only_where_labels_compare_two_tiers(traffic, tmp_path, tiers):
    path = export(tmp_path, "routellm_pairs")
    pairs = [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]
    by_event = {pair["event_id"]: pair for pair in pairs}
    labelled = {r["event_id"]: r for r in expected_records()}
    for event_id, record in labelled.items():
        verdict, served, right = (
            record["verdict"],
            record["served_tier_rank"],
            record["right_tier_rank"],
        )
        implies = (verdict == "should_be_stronger" and right is not None and right > served) or (
            verdict == "should_be_cheaper" and right is not None and right < served
        )
        assert (event_id in by_event) == implies, record
    assert pairs, "the sample has labels that compare tiers"
    for number, pair in enumerate(pairs):
        assert pair["idx"] == number
        tier_a, tier_b = tiers[pair["tier_a"]], tiers[pair["tier_b"]]
        assert tier_a.rank < tier_b.rank  # model_a is always the cheaper side
        expected_winner = "model_b" if pair["verdict"] == "should_be_stronger" else "tie"
        assert pair["winner"] == expected_winner
    # A correct verdict, a served call alone, or no label: never a win.
    correct = traffic[4].event_id
    unlabelled = traffic[12].event_id
    already_strongest = traffic[2].event_id
    assert already_strongest not in by_event
    assert correct not in by_event and unlabelled not in by_event


def test_routellm_eval_csv_reads_with_pandas_as_routellm_does(traffic, tmp_path, tiers):
    path = export(tmp_path, "routellm_eval")
    frame = pandas.read_csv(path)
    names = [tier.name for tier in Tier.objects.order_by("rank")]
    assert list(frame.columns) == ["prompt", *names, "event_id"]
    for name in names:
        assert frame[name].dtype == bool
    by_event = {r["event_id"]: r for r in expected_records()}
    assert len(frame) == sum(
        1
        for r in by_event.values()
        if r["verdict"] == "no_model_fits"
        or (
            (r["verdict"] in ("correct", "should_be_cheaper", "should_be_stronger"))
            and r["right_tier_rank"] is not None
        )
    )
    for row in frame.to_dict("records"):
        record = by_event[row["event_id"]]
        if record["verdict"] == "no_model_fits":
            assert not any(row[name] for name in names)
        else:
            right = record["right_tier_rank"]
            assert [row[name] for name in names] == [tiers[n].rank >= right for n in names]
        assert formats.restore_cell(row["prompt"]) == record["prompt"]


# --- CSV cells a spreadsheet cannot run -----------------------------------------------------

TRIGGER = st.sampled_from([*formats.FORMULA_TRIGGERS, formats.QUOTE, "'=", "''"])


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", "=cmd|' /C calc'!A0"])
def test_cells_starting_with_a_formula_sign_are_neutralised(cell):
    assert formats.neutralise(cell) == "'" + cell
    assert formats.restore_cell(formats.neutralise(cell)) == cell


@pytest.mark.parametrize("cell", ["'=1+1", "'", "''@x", "'plain"])
def test_text_starting_with_a_quote_reads_back_as_written(cell):
    """A prompt that already starts with a quote is not mistaken for a neutralised one."""
    assert formats.neutralise(cell) == "'" + cell
    assert formats.restore_cell(formats.neutralise(cell)) == cell


@pytest.mark.parametrize("cell", ["", "plain", "1+1", "a=b", "{}", "3.5"])
def test_cells_without_a_trigger_are_written_as_they_are(cell):
    assert formats.neutralise(cell) == cell
    assert formats.restore_cell(cell) == cell


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prompt=st.one_of(st.text(), st.builds(lambda t, s: t + s, TRIGGER, st.text())),
    note=st.one_of(st.text(), st.builds(lambda t, s: t + s, TRIGGER, st.text())),
)
def test_no_written_csv_cell_starts_with_a_formula_sign(tmp_path_factory, db, prompt, note):
    """Whatever the text, every cell the CSV writer writes is inert, and reads back exactly."""
    path = tmp_path_factory.mktemp("csv") / "out.csv"
    context = formats.Context(
        title="t",
        filters={},
        detector_version="v",
        test_percent=0,
        created_at=T0,
        tiers=records.Tiers(),
    )
    record: dict[str, Any] = dict.fromkeys(formats.NAMES)
    record.update(
        id=1,
        event_id=note,
        prompt=prompt,
        router_cause=prompt,
        labels=[{"note": note}],
        fallback_chain=[],
        flags=[],
        labels_hidden=False,
    )
    writer = formats.CsvWriter(path, context=context)
    writer.write([record])
    writer.close()
    with path.open(encoding="utf-8", newline="") as file:
        header, row = list(csv.reader(file))
    for cell in row:
        assert not cell.startswith(formats.FORMULA_TRIGGERS), cell
    read = dict(zip(header, row, strict=True))
    assert formats.restore_cell(read["prompt"]) == prompt
    assert formats.restore_cell(read["event_id"]) == note
    assert json.loads(read["labels"]) == [{"note": note}]


# --- The command line -----------------------------------------------------------------------


def test_the_command_writes_the_explorers_rows_with_its_filters(traffic, tmp_path):
    out = tmp_path / "flags.jsonl"
    stdout = StringIO()
    call_command(
        "export", "--format", "jsonl", "--out", str(out), "--flag", "overkill", stdout=stdout
    )
    ids = [json.loads(line)["id"] for line in out.read_bytes().split(b"\n")[:-1]]
    assert ids == explorer_ids("flag=overkill")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"Exported {len(ids)} rows" in stdout.getvalue()
    assert digest in stdout.getvalue()
    assert not list(tmp_path.glob("*.partial"))


def test_the_command_writes_a_dataset_folder(traffic, tmp_path):
    out = tmp_path / "dataset"
    call_command(
        "export", "--format", "hf_dataset", "--out", str(out), "--test-percent", "20",
        stdout=StringIO(),
    )  # fmt: skip
    assert (out / "README.md").is_file()
    rows = sum(pq.read_metadata(p).num_rows for p in (out / "data").glob("*.parquet"))
    assert rows == 40


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tier", "gigantic"], "--tier: Select a valid choice"),
        (["--since", "yesterday"], "--since: Enter a valid date/time"),
        (["--test-percent", "100"], "--test-percent: must be between 0"),
        (["--format", "parquet", "--out", "-"], "--out: parquet cannot go to standard output"),
    ],
)
def test_the_command_names_each_bad_option(traffic, tmp_path, arguments, message):
    base = {"--format": "jsonl", "--out": str(tmp_path / "x")}
    given = dict(zip(arguments[::2], arguments[1::2], strict=True))
    argv = [item for pair in {**base, **given}.items() for item in pair]
    with pytest.raises(CommandError) as refused:
        call_command("export", *argv)
    assert message in str(refused.value)
    assert not (tmp_path / "x").exists()


# --- The job's upkeep -----------------------------------------------------------------------


@pytest.fixture
def export_dir(settings, tmp_path) -> Path:
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


def test_a_job_writes_its_file_with_count_and_checksum(traffic, export_dir, reviewer):
    made = jobs.create_export(
        export_format="csv", filters={"flag": "overkill"}, test_percent=10, created_by=reviewer
    )
    assert made.filters == {"flag": "overkill"} and made.status == Export.Status.QUEUED
    assert jobs.run_export(export_id=made.pk).startswith("done")
    made.refresh_from_db()
    path = export_dir / made.file_name
    assert made.status == Export.Status.DONE
    assert made.row_count == made.total == made.done == len(explorer_ids("flag=overkill"))
    assert made.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    assert made.size_bytes == path.stat().st_size
    assert made.summary["splits"].keys() <= {"train", "test"}
    assert made.expires_at == made.finished_at + timedelta(days=7)
    # A second run of the same message (a redelivery) finds it claimed and does nothing.
    assert jobs.run_export(export_id=made.pk).startswith("not queued")


def test_a_dataset_job_zips_the_folder_and_the_folder_loads(
    traffic, export_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    made = jobs.create_export(export_format="hf_dataset", filters={}, test_percent=20)
    assert jobs.run_export(export_id=made.pk).startswith("done")
    made.refresh_from_db()
    root = f"routing-review-export-{made.pk}"
    with zipfile.ZipFile(export_dir / made.file_name) as archive:
        assert sorted(archive.namelist()) == [
            f"{root}/README.md",
            f"{root}/data/test-00000-of-00001.parquet",
            f"{root}/data/train-00000-of-00001.parquet",
        ]
        archive.extractall(tmp_path / "unzipped")
    loaded = datasets.load_dataset(
        str(tmp_path / "unzipped" / root), cache_dir=str(tmp_path / "hf-cache")
    )
    assert len(loaded["train"]) + len(loaded["test"]) == made.row_count == 40
    assert made.summary["splits"] == {"train": len(loaded["train"]), "test": len(loaded["test"])}
    assert [path.name for path in export_dir.iterdir()] == [made.file_name]  # no leftovers


def test_a_job_whose_filters_no_longer_apply_fails_and_says_why(traffic, export_dir, tiers):
    made = jobs.create_export(export_format="jsonl", filters={"tier": "large"})
    Export.objects.filter(pk=made.pk).update(filters={"tier": "retired-tier"})
    assert jobs.run_export(export_id=made.pk) == "failed"
    made.refresh_from_db()
    assert made.status == Export.Status.FAILED
    assert "its filters no longer apply: tier: Select a valid choice" in made.error
    assert not list(export_dir.glob("*"))


def test_a_cancelled_queued_export_never_runs(traffic, export_dir):
    made = jobs.create_export(export_format="jsonl", filters={})
    assert jobs.cancel_export(export=made)
    assert jobs.run_export(export_id=made.pk).startswith("not queued")
    assert not jobs.cancel_export(export=made)  # finished: nothing to cancel
    made.refresh_from_db()
    assert made.status == Export.Status.CANCELLED and not made.file_name


def test_expired_files_are_deleted_and_the_row_kept(traffic, export_dir):
    made = jobs.create_export(export_format="parquet", filters={})
    jobs.run_export(export_id=made.pk)
    made.refresh_from_db()
    path = export_dir / made.file_name
    stray = export_dir / "export-999999.jsonl.partial"  # left by a worker that died
    stray.write_text("half")
    assert path.is_file()
    assert jobs.expire(now=made.expires_at - timedelta(minutes=1)) == 0
    assert path.is_file() and not stray.exists()
    assert jobs.expire(now=made.expires_at + timedelta(minutes=1)) == 1
    made.refresh_from_db()
    assert not path.exists()
    assert made.status == Export.Status.EXPIRED and made.checksum and made.row_count == 40
    assert jobs.file_of(made) is None


def test_the_sweep_resends_lost_triggers_and_restarts_dead_jobs(
    traffic, export_dir, django_capture_on_commit_callbacks
):
    celery_app.control.purge()  # no trigger waits in the broker: the queued ones were lost
    now = timezone.now()
    lost = jobs.create_export(export_format="jsonl", filters={})
    fresh = jobs.create_export(export_format="jsonl", filters={})
    stalled = jobs.create_export(export_format="jsonl", filters={})
    hopeless = jobs.create_export(export_format="jsonl", filters={})
    Export.objects.filter(pk=lost.pk).update(created_at=now - timedelta(minutes=30))
    Export.objects.filter(pk=fresh.pk).update(created_at=now - timedelta(minutes=1))
    Export.objects.filter(pk=stalled.pk).update(
        status="running", attempts=1, heartbeat_at=now - timedelta(minutes=20)
    )
    Export.objects.filter(pk=hopeless.pk).update(
        status="running", attempts=3, heartbeat_at=now - timedelta(minutes=20)
    )
    with django_capture_on_commit_callbacks() as sent:
        assert jobs.sweep(now=now) == {"resent": 2, "failed": 1}
    assert [callback.args for callback in sent] == [(lost.pk,), (stalled.pk,)]
    statuses = dict(Export.objects.values_list("pk", "status"))
    assert statuses[stalled.pk] == "queued" and statuses[hopeless.pk] == "failed"
    assert statuses[fresh.pk] == "queued"
    # The re-send is marked: a broker that stays down gets one re-send per interval.
    with django_capture_on_commit_callbacks() as again:
        jobs.sweep(now=now + timedelta(minutes=1))
    assert again == []


def test_the_sweep_leaves_exports_whose_triggers_wait_in_the_broker(
    traffic, export_dir, django_capture_on_commit_callbacks
):
    """Exports queued behind a long one on the export worker are waiting, not lost: their
    messages are in Redis. Only when fewer messages wait than exports are queued, re-send."""
    celery_app.control.purge()
    with django_capture_on_commit_callbacks(execute=True):  # the triggers reach Redis
        waiting = [jobs.create_export(export_format="jsonl", filters={}) for _ in range(2)]
    assert jobs.triggers_waiting() == 2
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Export.objects.filter(pk__in=[e.pk for e in waiting]).update(created_at=an_hour_ago)
    with django_capture_on_commit_callbacks() as sent:
        assert jobs.sweep() == {"resent": 0, "failed": 0}
    assert sent == []
    celery_app.control.purge()  # a broker restart loses them
    assert jobs.triggers_waiting() == 0
    with django_capture_on_commit_callbacks() as sent:
        assert jobs.sweep() == {"resent": 2, "failed": 0}
    assert sorted(callback.args for callback in sent) == sorted((e.pk,) for e in waiting)


def _stall(export: Export, *, minutes: int = 20) -> dict[str, int]:
    """Age the export's heartbeat past STALLED_AFTER and run the sweep."""
    Export.objects.filter(pk=export.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=minutes)
    )
    return jobs.sweep()


def _taken_over(export_format: str, capture: Callable[..., Any]) -> tuple[Export, Any, Any]:
    """An export whose first attempt the sweep took for dead, and its second attempt (claimed,
    nothing written yet)."""
    made = jobs.create_export(export_format=export_format, filters={})
    slow = jobs.Attempt.claim(made.pk)
    assert slow is not None
    with capture():
        assert _stall(made) == {"resent": 1, "failed": 0}
    again = jobs.Attempt.claim(made.pk)
    assert again is not None and (slow.number, again.number) == (1, 2)
    assert slow.partial != again.partial and slow.folder != again.folder
    return made, slow, again


def test_an_attempt_the_sweep_replaced_writes_nothing_when_it_finishes_last(
    traffic, export_dir, django_capture_on_commit_callbacks
):
    """A worker the sweep took for dead was only slow: it had written and hashed its whole file
    when the later attempt finished. Its last step finds the row no longer its own."""
    made = jobs.create_export(export_format="jsonl", filters={})
    slow = jobs.Attempt.claim(made.pk)
    assert slow is not None
    slow_written = slow._write()
    slow_digest, slow_size = jobs.file_digest(slow.partial)
    with django_capture_on_commit_callbacks():
        assert _stall(made) == {"resent": 1, "failed": 0}
    again = jobs.Attempt.claim(made.pk)
    assert again is not None and again.partial != slow.partial
    # While the second attempt runs, the first cannot finish.
    with pytest.raises(jobs.Cancelled):
        slow._finish(slow_written, checksum=slow_digest, size=slow_size)
    assert not again.final.exists()
    assert again.run() == "done: 40 rows"
    done = Export.objects.get(pk=made.pk)
    written = (export_dir / done.file_name).read_bytes()
    assert done.checksum == hashlib.sha256(written).hexdigest()
    # Nor after it is done: the row, the file and its checksum stay the second attempt's.
    with pytest.raises(jobs.Cancelled):
        slow._finish(slow_written, checksum=slow_digest, size=slow_size)
    assert slow.run() == jobs.STOPPED
    after = Export.objects.get(pk=made.pk)
    assert (after.status, after.attempts, after.checksum) == ("done", 2, done.checksum)
    assert after.heartbeat_at == done.heartbeat_at
    assert (export_dir / done.file_name).read_bytes() == written
    assert [p.name for p in export_dir.iterdir()] == [done.file_name]


def test_a_finished_file_no_row_names_is_removed(traffic, export_dir):
    """The last step fails in the database after the rename (here a check constraint): the
    transaction rolls back and the file under the final name goes with it."""
    made = jobs.create_export(export_format="jsonl", filters={})
    attempt = jobs.Attempt.claim(made.pk)
    assert attempt is not None
    written = attempt._write()
    with pytest.raises(IntegrityError):
        attempt._finish(written, checksum="0" * 64, size=-1)  # size_bytes is unsigned
    assert not attempt.final.exists()
    assert Export.objects.get(pk=made.pk).status == "running"


def test_an_error_after_losing_the_claim_is_no_failure(traffic, export_dir, tiers):
    """An attempt that fails once the export is no longer its own (cancelled, or taken over)
    leaves the row as it is: the failure is not the export's."""
    made = jobs.create_export(export_format="jsonl", filters={"tier": "large"})
    attempt = jobs.Attempt.claim(made.pk)
    assert attempt is not None
    Export.objects.filter(pk=made.pk).update(filters={"tier": "retired-tier"})  # it will fail
    assert jobs.cancel_export(export=made)
    assert attempt.run() == jobs.STOPPED
    row = Export.objects.get(pk=made.pk)
    assert row.status == "cancelled" and not row.error


def test_the_upkeep_keeps_the_files_of_running_attempts_only(traffic, export_dir):
    running = jobs.create_export(export_format="jsonl", filters={})
    attempt = jobs.Attempt.claim(running.pk)
    assert attempt is not None
    finished = jobs.create_export(export_format="jsonl", filters={})
    jobs.cancel_export(export=finished)
    export_dir.mkdir(parents=True, exist_ok=True)
    kept = [
        attempt.partial.name,
        f"export-{running.pk}.jsonl.partial",  # a worker from before attempts were numbered
        f"export-{running.pk}.try1.hf.partial",
    ]
    removed = [
        f"export-{running.pk}.try2.jsonl.partial",  # not the running attempt
        f"export-{finished.pk}.try1.jsonl.partial",
        f"export-{finished.pk}.jsonl.partial",
        "export-x.partial",
    ]
    for name in kept + removed:
        (export_dir / name).write_text("partial")
    jobs.expire()
    assert sorted(p.name for p in export_dir.iterdir()) == sorted(kept)


def test_an_attempt_the_sweep_replaced_leaves_the_running_attempts_file_alone(
    traffic, export_dir, django_capture_on_commit_callbacks
):
    made, slow, again = _taken_over("parquet", django_capture_on_commit_callbacks)
    # The new attempt is midway: its partial file is on disk and its heartbeat is fresh.
    export_dir.mkdir(parents=True, exist_ok=True)
    again.partial.write_bytes(b"half of the new attempt's file")
    again.beat(done=5, total=40)
    with pytest.raises(jobs.Cancelled):
        slow.beat(done=10, total=40)  # the old worker's next chunk
    assert slow.run().startswith("stopped")
    assert again.partial.read_bytes() == b"half of the new attempt's file"
    row = Export.objects.get(pk=made.pk)
    assert (row.status, row.attempts, row.done) == ("running", 2, 5)
    assert not again.final.exists()
    # The upkeep keeps the running attempt's file and removes the one of the attempt before.
    slow.partial.write_bytes(b"left by the first worker")
    jobs.expire()
    assert again.partial.exists() and not slow.partial.exists()
    assert again.run() == "done: 40 rows"
    assert [p.name for p in export_dir.iterdir()] == [again.final.name]


def test_a_cancel_during_the_last_step_leaves_no_file(traffic, export_dir):
    made = jobs.create_export(export_format="jsonl", filters={})
    attempt = jobs.Attempt.claim(made.pk)
    assert attempt is not None
    written = attempt._write()
    assert jobs.cancel_export(export=made)
    checksum, size = jobs.file_digest(attempt.partial)
    with pytest.raises(jobs.Cancelled):
        attempt._finish(written, checksum=checksum, size=size)
    assert not attempt.final.exists()
    assert Export.objects.get(pk=made.pk).status == "cancelled"


def test_hashing_and_zipping_keep_the_heartbeat_going(tmp_path):
    """A large file takes long to hash and zip, with no chunk written: both call back."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5 * jobs.BLOCK_BYTES + 7))
    beats: list[str] = []
    digest, size = jobs.file_digest(
        big, on_block=lambda: beats.append("hash"), beat_bytes=2 * jobs.BLOCK_BYTES
    )
    assert (digest, size) == (hashlib.sha256(big.read_bytes()).hexdigest(), big.stat().st_size)
    assert beats == ["hash", "hash"]
    folder = tmp_path / "folder"
    (folder / "data").mkdir(parents=True)
    for name in ("README.md", "data/a.parquet", "data/b.parquet"):
        (folder / name).write_text(name)
    jobs.zip_folder(folder, tmp_path / "out.zip", root="r", on_file=lambda: beats.append("zip"))
    assert beats.count("zip") == 3


def test_a_dataset_attempt_that_lost_its_claim_stops_and_cleans_up(
    traffic, export_dir, django_capture_on_commit_callbacks
):
    made = jobs.create_export(export_format="hf_dataset", filters={}, test_percent=20)
    slow = jobs.Attempt.claim(made.pk)
    assert slow is not None
    slow.beat()  # its own claim: the heartbeat is written
    with django_capture_on_commit_callbacks():
        _stall(made)
    with pytest.raises(jobs.Cancelled):
        slow.beat()
    assert slow.run().startswith("stopped")
    assert not slow.folder.exists() and not slow.partial.exists()
    assert Export.objects.get(pk=made.pk).status == "queued"


def test_the_docs_describe_every_field():
    docs = (Path(__file__).resolve().parent.parent / "docs" / "exports.md").read_text()
    missing = [f.name for f in formats.FIELDS if f"`{f.name}`" not in docs]
    assert missing == []
