"""The export formats. Each is a writer that takes records a chunk at a time and holds nothing
but that chunk (and, for Parquet, the row group being filled), so memory stays flat whatever
the number of rows. docs/exports.md describes every format's fields.

- ``jsonl``: the canonical record, one JSON object per line.
- ``csv``: the same fields, RFC 4180, nested fields as JSON text, formula injection neutralised.
- ``parquet``: the same fields as typed columns (pyarrow).
- ``routellm_pairs``: RouteLLM's pairwise preference rows, only where the labels imply one.
- ``routellm_eval``: RouteLLM's evaluation CSV: the prompt and one True/False column per tier.
- ``hf_dataset``: a Hugging Face datasets folder: Parquet splits and a dataset card.
"""

import abc
import csv
import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from review.exports.records import Tiers
from review.features import PromptFeatures
from review.models import Export, Verdict

# --- The fields -------------------------------------------------------------------------------

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(14, 8)  # as Decision.cost_usd and Flag.dollars store it
_ARROW_OF = {int: pa.int64(), float: pa.float64()}
FEATURES = pa.struct(
    [pa.field(f.name, _ARROW_OF[f.type]) for f in dataclasses.fields(PromptFeatures)]  # type: ignore[index]
)
FLAG = pa.struct(
    [
        ("kind", pa.string()),
        ("confidence", pa.float64()),
        ("dollars", MONEY),
        ("reasons", pa.list_(pa.string())),
        ("detector_version", pa.string()),
    ]
)
LABEL = pa.struct(
    [
        ("reviewer", pa.string()),
        ("verdict", pa.string()),
        ("right_tier", pa.string()),
        ("note", pa.string()),
        ("created_at", TIMESTAMP),
        ("updated_at", TIMESTAMP),
    ]
)


@dataclass(frozen=True)
class Field:
    name: str
    type: pa.DataType
    description: str


FIELDS = [
    Field("id", pa.int64(), "The decision's id in Routing Review."),
    Field("event_id", pa.string(), "The gateway's id for the request (unique per gateway)."),
    Field("gateway", pa.string(), "The gateway that logged it."),
    Field("occurred_at", TIMESTAMP, "When the request was routed (UTC)."),
    Field("prompt", pa.string(), "The last user turn, redacted at ingestion."),
    Field("response_excerpt", pa.string(), "The start of the response, if logged."),
    Field("served_model", pa.string(), "The catalog model that served the call."),
    Field("served_tier", pa.string(), "Its tier at the time; null if unclassified."),
    Field("served_tier_rank", pa.int32(), "The served tier's rank (0 is the cheapest)."),
    Field("requested_model", pa.string(), "The model or alias the caller asked for."),
    Field("router_name", pa.string(), "The router that chose, as logged."),
    Field("router_version", pa.string(), "Its version, as logged."),
    Field("router_score", pa.float64(), "The router's own score, if logged."),
    Field("router_threshold", pa.float64(), "The threshold it compared the score with."),
    Field("router_category", pa.string(), "The router's category for the request."),
    Field("router_tier", pa.string(), "The tier the router meant to pick."),
    Field("router_cause", pa.string(), "Why the router chose, as logged."),
    Field("input_tokens", pa.int64(), "Prompt tokens."),
    Field("output_tokens", pa.int64(), "Completion tokens."),
    Field("cost_usd", MONEY, "The call's cost in dollars (logged, or list price × tokens)."),
    Field("latency_ms", pa.int64(), "Latency in milliseconds."),
    Field("status", pa.string(), "success or error."),
    Field("error_type", pa.string(), "The error's class when status is error."),
    Field("http_status", pa.int32(), "The provider's HTTP status, if logged."),
    Field("trace_id", pa.string(), "Shared by the attempts (retries, fallbacks) of a request."),
    Field("fallback_chain", pa.list_(pa.string()), "Models tried before this one."),
    Field("retries", pa.int32(), "Retries before this attempt."),
    Field("user_feedback", pa.int8(), "1 (positive), -1 (negative) or null."),
    Field("judge_score", pa.float64(), "A judge's score in [0, 1], if any."),
    Field("retried", pa.bool_(), "The user retried the request."),
    Field("escalated", pa.bool_(), "The request was escalated (to a stronger model or a human)."),
    Field("difficulty", pa.float64(), "Detection's estimated difficulty in [0, 1]."),
    Field("needed_tier", pa.string(), "The tier detection judged the request needed."),
    Field("assessed_by", pa.string(), "The detector version of that assessment."),
    Field("features", FEATURES, "The prompt's text features behind the difficulty."),
    Field("flags", pa.list_(FLAG), "The current detector's flags on the decision."),
    Field("labels", pa.list_(LABEL), "Every reviewer's label, with reviewer and times."),
    Field("labels_hidden", pa.bool_(), "Labels left out while they are given blind."),
    Field("verdict", pa.string(), "The verdict the labels agree on, else null."),
    Field("right_tier", pa.string(), "The right tier the labels agree on, else null."),
    Field("right_tier_rank", pa.int32(), "Its rank."),
    Field("agreement", pa.string(), "single, unanimous or split; null without labels."),
    Field("split", pa.string(), "train or test (by a hash of the event id); null without split."),
]
NAMES = [f.name for f in FIELDS]
SCHEMA = pa.schema([pa.field(f.name, f.type) for f in FIELDS])
# Rows buffered before a Parquet row group is written: enough for good compression and column
# reads, few enough to keep the worker small. Measured on 100,000 decisions (bench/export.py's
# data): 20,000 rows per group took 73 MB over the idle process, 10,000 took 54, 5,000 took 44.
ROW_GROUP_ROWS = 5_000


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Money has at most 14 significant digits: the float's shortest repr is the same number.
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default)


# --- CSV safety -------------------------------------------------------------------------------

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
# defusedcsv (3.0) covers the signs but not tab or carriage return, lets text through when it
# looks like a number ("-1+1" does not, "-1,2" does) and rewrites "|" anywhere in the cell, so
# this small function is used instead: a single quote in front, which spreadsheets show as text
# and ``restore_cell`` removes. Text that itself starts with a quote gets one more, so that
# removing one leading quote always gives the original back ("'=1" is not read as "=1").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise(cell: str) -> str:
    """The cell, made inert for spreadsheets: prefixed with ``'`` if it starts with a trigger
    (or with a quote, which keeps the prefix reversible)."""
    return QUOTE + cell if cell.startswith((*FORMULA_TRIGGERS, QUOTE)) else cell


def restore_cell(cell: str) -> str:
    """The original text of a cell ``neutralise`` wrote."""
    return cell.removeprefix(QUOTE)


def csv_cell(value: Any) -> str | int | float:
    """A record's value as a CSV cell: numbers as numbers, booleans as true/false, times in ISO
    8601, lists and objects as JSON, null as an empty cell, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")  # never "1E-8"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return to_json(value).decode()  # starts with [ or {: never a formula
    return neutralise(str(value))


# --- Writers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a writer may say about the export as a whole (the dataset card says it all)."""

    title: str
    filters: dict[str, str]
    detector_version: str
    test_percent: int
    created_at: datetime
    tiers: Tiers


@dataclass
class Tally:
    """Counted while writing: rows per split, and the labels of the decisions read."""

    rows: int = 0
    decisions: int = 0
    splits: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    right_tiers: Counter[str] = field(default_factory=Counter)
    agreement: Counter[str] = field(default_factory=Counter)

    def read(self, records: list[dict[str, Any]]) -> None:
        self.decisions += len(records)
        for record in records:
            self.verdicts[record["verdict"] or "none"] += 1
            self.right_tiers[record["right_tier"] or "none"] += 1
            self.agreement[record["agreement"] or "unlabelled"] += 1

    def wrote(self, split: str | None, rows: int = 1) -> None:
        self.rows += rows
        self.splits[split or "all"] += rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "decisions": self.decisions,
            "splits": dict(self.splits),
            "verdicts": dict(self.verdicts),
            "right_tiers": dict(self.right_tiers),
            "agreement": dict(self.agreement),
        }


class Writer(abc.ABC):
    """Writes records to ``path`` a chunk at a time; ``close`` finishes the file."""

    extension: ClassVar[str]
    content_type: ClassVar[str]

    def __init__(self, path: Path, *, context: Context) -> None:
        self.path = path
        self.context = context
        self.tally = Tally()

    def write(self, records: list[dict[str, Any]]) -> None:
        self.tally.read(records)
        self.write_rows(records)

    @abc.abstractmethod
    def write_rows(self, records: list[dict[str, Any]]) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class JsonLinesWriter(Writer):
    extension = "jsonl"
    content_type = "application/x-ndjson"

    def __init__(self, path: Path, *, context: Context) -> None:
        super().__init__(path, context=context)
        self.file: IO[bytes] = path.open("wb")

    def write_rows(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.file.write(orjson.dumps(record, default=_json_default))
            self.file.write(b"\n")
            self.tally.wrote(record["split"])

    def close(self) -> None:
        self.file.close()


class CsvWriter(Writer):
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def __init__(self, path: Path, *, context: Context) -> None:
        super().__init__(path, context=context)
        # newline="": the csv module writes RFC 4180's CRLF itself, and quotes fields that hold
        # line breaks, quotes or commas.
        self.file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.file)
        self.csv.writerow(self.header())

    def header(self) -> list[str]:
        return NAMES

    def write_rows(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.csv.writerow([csv_cell(record[name]) for name in NAMES])
            self.tally.wrote(record["split"])

    def close(self) -> None:
        self.file.close()


class RowGroups:
    """A Parquet file written a row group at a time from buffered chunks of records."""

    def __init__(self, path: Path) -> None:
        self.writer = pq.ParquetWriter(path, SCHEMA, compression="zstd")
        self.buffered: list[pa.Table] = []
        self.buffered_rows = 0

    def add(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        self.buffered.append(pa.Table.from_pylist(records, schema=SCHEMA))
        self.buffered_rows += len(records)
        if self.buffered_rows >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.buffered:
            self.writer.write_table(pa.concat_tables(self.buffered))
        self.buffered, self.buffered_rows = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


class ParquetWriter(Writer):
    extension = "parquet"
    content_type = "application/vnd.apache.parquet"

    def __init__(self, path: Path, *, context: Context) -> None:
        super().__init__(path, context=context)
        self.file = RowGroups(path)

    def write_rows(self, records: list[dict[str, Any]]) -> None:
        self.file.add(records)
        for record in records:
            self.tally.wrote(record["split"])

    def close(self) -> None:
        self.file.close()


class RouteLLMPairsWriter(Writer):
    """RouteLLM's pairwise preference rows, one JSON object per line: ``model_a`` is always the
    cheaper side, ``model_b`` the stronger. Only labels that compare two tiers make a row:

    - should_be_stronger, right tier above the served one: the served call fell short and the
      stronger tier would have done: ``winner`` is ``model_b``;
    - should_be_cheaper, right tier below the served one: the cheaper tier would have done as
      well: ``winner`` is ``tie`` (RouteLLM routes a tie to the weaker model).

    A served call that went well, or a ``correct`` verdict, is never a win: nothing was compared.
    """

    extension = "pairs.jsonl"
    content_type = "application/x-ndjson"

    def __init__(self, path: Path, *, context: Context) -> None:
        super().__init__(path, context=context)
        self.file: IO[bytes] = path.open("wb")

    def write_rows(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            pair = self.pair(record)
            if pair is not None:
                self.file.write(orjson.dumps(pair, default=_json_default))
                self.file.write(b"\n")
                self.tally.wrote(record["split"])

    def pair(self, record: dict[str, Any]) -> dict[str, Any] | None:
        served, right = record["served_tier_rank"], record["right_tier_rank"]
        if served is None or right is None:
            return None
        representative = self.context.tiers.representative
        if record["verdict"] == Verdict.SHOULD_BE_STRONGER and right > served:
            cheaper = (record["served_model"], record["served_tier"])
            stronger = (representative(record["right_tier"]), record["right_tier"])
            winner = "model_b"
        elif record["verdict"] == Verdict.SHOULD_BE_CHEAPER and right < served:
            cheaper = (representative(record["right_tier"]), record["right_tier"])
            stronger = (record["served_model"], record["served_tier"])
            winner = "tie"
        else:
            return None
        return {
            # RouteLLM's trainers index prompts (and their embeddings) by this row number.
            "idx": self.tally.rows,
            "event_id": record["event_id"],
            "prompt": record["prompt"],
            "model_a": cheaper[0],
            "model_b": stronger[0],
            "tier_a": cheaper[1],
            "tier_b": stronger[1],
            "winner": winner,
            "served_model": record["served_model"],
            "verdict": record["verdict"],
            "agreement": record["agreement"],
            "split": record["split"],
        }

    def close(self) -> None:
        self.file.close()


class RouteLLMEvalWriter(CsvWriter):
    """RouteLLM's evaluation CSV: ``prompt``, then one column per tier (cheapest first) saying
    whether that tier answers the prompt well enough (True at and above the agreed right tier;
    all False for ``no_model_fits``), then ``event_id``. Decisions without an agreed right tier
    (unlabelled, unsure, split) have no row."""

    extension = "eval.csv"

    def header(self) -> list[str]:
        return ["prompt", *(tier.name for tier in self.context.tiers.ordered), "event_id"]

    def write_rows(self, records: list[dict[str, Any]]) -> None:
        ranks = [tier.rank for tier in self.context.tiers.ordered]
        for record in records:
            if record["verdict"] == Verdict.NO_MODEL_FITS:
                answers = [False] * len(ranks)
            elif record["verdict"] in (
                Verdict.CORRECT,
                Verdict.SHOULD_BE_CHEAPER,
                Verdict.SHOULD_BE_STRONGER,
            ) and (record["right_tier_rank"] is not None):
                answers = [rank >= record["right_tier_rank"] for rank in ranks]
            else:
                continue
            # True/False as RouteLLM's own files write them (pandas reads them as booleans).
            self.csv.writerow(
                [neutralise(record["prompt"]), *map(str, answers), neutralise(record["event_id"])]
            )
            self.tally.wrote(record["split"])


class HuggingFaceWriter(Writer):
    """A folder ``datasets.load_dataset(path)`` reads: ``data/<split>-00000-of-00001.parquet``
    (train, and test when a split was asked for) and a ``README.md`` dataset card with the
    fields, the filters, the counts and the label distribution."""

    extension = "zip"
    content_type = "application/zip"

    def __init__(self, path: Path, *, context: Context) -> None:
        super().__init__(path, context=context)
        (path / "data").mkdir(parents=True, exist_ok=True)
        self.splits = ["train", "test"] if context.test_percent else ["train"]
        self.parts = {
            split: RowGroups(path / "data" / f"{split}-00000-of-00001.parquet")
            for split in self.splits
        }

    def write_rows(self, records: list[dict[str, Any]]) -> None:
        by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in self.splits}
        for record in records:
            by_split[record["split"] or "train"].append(record)
        for split, rows in by_split.items():
            self.parts[split].add(rows)
            self.tally.wrote(split, len(rows))

    def close(self) -> None:
        for part in self.parts.values():
            part.close()
        (self.path / "README.md").write_text(dataset_card(self.context, self.tally))


WRITERS: dict[str, type[Writer]] = {
    Export.Format.JSONL: JsonLinesWriter,
    Export.Format.CSV: CsvWriter,
    Export.Format.PARQUET: ParquetWriter,
    Export.Format.ROUTELLM_PAIRS: RouteLLMPairsWriter,
    Export.Format.ROUTELLM_EVAL: RouteLLMEvalWriter,
    Export.Format.HF_DATASET: HuggingFaceWriter,
}


def writer_for(export_format: str) -> type[Writer]:
    return WRITERS[export_format]


# --- The dataset card -------------------------------------------------------------------------


def _cell(text: Any) -> str:
    """Text made safe for a Markdown table cell: one line, pipes and backticks escaped."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return name
    return "100K<n<1M" if rows < 1_000_000 else "1M<n<10M"


def _distribution(title: str, counts: Counter[str], total: int) -> list[str]:
    lines = [f"| {title} | decisions | share |", "|---|---:|---:|"]
    for name, count in counts.most_common():
        share = count / total if total else 0
        lines.append(f"| {_cell(name)} | {count:,} | {share:.1%} |")
    return lines


def dataset_card(context: Context, tally: Tally) -> str:
    """The README.md of a Hugging Face dataset folder: YAML metadata that ``datasets`` and the
    Hub read (splits and their files), then the fields, filters, counts and labels in words."""
    splits = ["train", "test"] if context.test_percent else ["train"]
    front = [
        "---",
        f"pretty_name: {context.title}",
        "license: other",
        "task_categories:",
        "- text-classification",
        "tags:",
        "- llm-routing",
        "- routing-review",
        "size_categories:",
        f"- {_size_category(tally.rows)}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        *(f"  - split: {split}\n    path: data/{split}-*.parquet" for split in splits),
        "---",
    ]
    filters = context.filters or {}
    body = [
        f"# {context.title}",
        "",
        f"Routing decisions exported by Routing Review on {context.created_at:%Y-%m-%d %H:%M} "
        f"UTC for training an LLM router: {tally.rows:,} decisions, the same rows (and order) "
        "as the decisions explorer showed for the filters below. Flags are those of detector "
        f"`{_cell(context.detector_version)}`.",
        "",
        "## Filters",
        "",
        "| filter | value |",
        "|---|---|",
        *(f"| {_cell(name)} | {_cell(value)} |" for name, value in filters.items()),
        *([] if filters else ["| (none) | every decision |"]),
        "",
        "## Splits",
        "",
        "| split | rows |",
        "|---|---:|",
        *(f"| {split} | {tally.splits.get(split, 0):,} |" for split in splits),
        "",
    ]
    if context.test_percent:
        body += [
            f"About {context.test_percent}% of decisions are in `test`, chosen by the SHA-256 of "
            "the event id: every export puts a decision in the same split.",
            "",
        ]
    body += [
        "## Labels",
        "",
        "What reviewers agreed on, per decision (`none`: no agreed verdict or tier).",
        "",
        *_distribution("verdict", tally.verdicts, tally.decisions),
        "",
        *_distribution("right tier", tally.right_tiers, tally.decisions),
        "",
        *_distribution("agreement", tally.agreement, tally.decisions),
        "",
        "## Fields",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
        *(f"| `{f.name}` | {_cell(f.type)} | {_cell(f.description)} |" for f in FIELDS),
        "",
    ]
    return "\n".join(front + body)
