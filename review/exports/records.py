"""Which decisions an export holds, and what each of its records says.

An export holds exactly the rows the explorer shows for the same filters, in the same order:
``explorer.decisions`` narrowed and sorted as ``explorer.page`` does, read by the same keyset
(sort value, id) EXPORT_CHUNK_ROWS at a time, from the first row to the last. Only one chunk is
in memory at once, whatever the total.

A record is one decision with its prompt, the router's account, tokens and cost, outcome
signals, the detection features, the current detector's flags, every label (reviewer and
time) and what the labels agree on. Labels still being given blind (an open round that wants
two labels per item, before the second) are left out for everyone: an export is a file that
anyone with the role can download, and must not show a reviewer a verdict they are yet to give.
"""

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, QuerySet
from django.http import QueryDict

from review import explorer, labels
from review.models import Assessment, CatalogModel, Decision, Flag, Label, Tier, Verdict

# Filters an export takes: the explorer's, less the page size (an export holds every page).
FILTER_NAMES = tuple(name for name in explorer.FILTER_NAMES if name != "limit")
PAGING = {
    "after": "an export holds every page of the explorer's rows from the first; leave it out",
    "limit": "an export holds every page of the explorer's rows; leave it out",
}
SPLIT_BUCKETS = 100
IMPLIED_STEP: dict[str, int] = {
    Verdict.SHOULD_BE_CHEAPER: -1,
    Verdict.SHOULD_BE_STRONGER: 1,
    Verdict.CORRECT: 0,
}


class InvalidExport(ValueError):
    """Bad input for an export, with a reason per field (as the API's ``fields``)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in fields.items()))


def clean_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    """The explorer's cleaned filter data for these query parameters. ``InvalidExport`` names
    every parameter that is unknown, about paging, or invalid."""
    errors: dict[str, str] = {}
    query = QueryDict(mutable=True)
    for name, value in params.items():
        if name in PAGING:
            errors[name] = PAGING[name]
        elif name not in FILTER_NAMES:
            errors[name] = f"is not an explorer filter; use {', '.join(FILTER_NAMES)}"
        elif value is not None:
            query[name] = str(value)
    form = explorer.FilterForm(query)
    if not form.is_valid():
        for name, messages in form.errors.items():
            errors["filters" if name == "__all__" else name] = " ".join(str(m) for m in messages)
    if errors:
        raise InvalidExport(errors)
    data = dict(form.cleaned_data)
    data.pop("after", None)
    data.pop("limit", None)
    return data


def filters_of(data: Mapping[str, Any]) -> dict[str, str]:
    """Cleaned filters as the query parameters kept on the export and put in explorer links."""
    query = explorer.query_string(dict(data), after=None, limit=None)
    return {name: str(value) for name, value in QueryDict(query).items()}


def split_of(event_id: str, test_percent: int) -> str | None:
    """``test`` or ``train`` by a hash of the event id, so every export (and every filter) puts
    a decision in the same split; None when no split was asked for."""
    if not test_percent:
        return None
    digest = hashlib.sha256(event_id.encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % SPLIT_BUCKETS
    return "test" if bucket < test_percent else "train"


# The decision's columns a record needs, read as values: building model instances (and
# their related rows) for every decision would cost most of an export's time.
COLUMNS = (
    *("id", "event_id", "gateway__name", "occurred_at", "prompt_text", "response_excerpt"),
    *("served_model__name", "served_tier_id", "requested_model"),
    *("router_name", "router_version", "router_score", "router_threshold", "router_category"),
    *("router_tier", "router_cause", "input_tokens", "output_tokens", "cost_usd", "latency_ms"),
    *("status", "error_type", "http_status", "trace_id", "fallback_chain", "retries"),
    *("user_feedback", "judge_score", "retried", "escalated"),
)


LABEL_COLUMNS = (
    *("decision_id", "reviewer__username", "verdict", "right_tier_id", "note"),
    *("created_at", "updated_at"),
)


@dataclass(frozen=True)
class Selection:
    """The explorer's rows for some filters, as the explorer would show them with the flags of
    ``detector_version``."""

    data: dict[str, Any]
    detector_version: str

    def ordered(self) -> tuple[QuerySet[Decision], bool]:
        """The explorer's rows with their sort value (``sort_key``), and whether they run
        descending: ``explorer.decisions`` narrowed and keyed exactly as ``explorer.page`` does
        (tests/test_exports.py holds the two to the same rows, in the same order)."""
        found = explorer.decisions(
            self.data, detector_version=self.detector_version, blind=labels.all_blind()
        )
        sort = self.data.get("sort") or explorer.Sort.TIME
        if sort == explorer.Sort.COST:
            # A cost order leaves unpriced calls out.
            found = found.filter(cost_usd__isnull=False).annotate(sort_key=F("cost_usd"))
        elif sort == explorer.Sort.CONFIDENCE:
            # A confidence order holds one row per current flag.
            found = found.filter(flags__detector_version=self.detector_version).annotate(
                sort_key=F("flags__confidence")
            )
        else:
            found = found.annotate(sort_key=F("occurred_at"))
        return found, (self.data.get("order") or "desc") == "desc"

    def count(self) -> int:
        return self.ordered()[0].count()

    def chunks(self, *, size: int) -> Iterator[list[dict[str, Any]]]:
        """The rows, ``size`` at a time, first to last, by keyset on (sort value, id) as the
        explorer pages: each chunk is one indexed query, however deep into the table."""
        found, descending = self.ordered()
        ordering = ["-sort_key", "-pk"] if descending else ["sort_key", "pk"]
        after: tuple[Any, int] | None = None
        while True:
            page = found
            if after is not None:
                key, last_id = after
                # The plain range condition is redundant but lets PostgreSQL seek the index.
                if descending:
                    page = page.filter(
                        Q(sort_key__lte=key), Q(sort_key__lt=key) | Q(sort_key=key, pk__lt=last_id)
                    )
                else:
                    page = page.filter(
                        Q(sort_key__gte=key), Q(sort_key__gt=key) | Q(sort_key=key, pk__gt=last_id)
                    )
            rows = list(page.order_by(*ordering).values(*COLUMNS, "sort_key")[:size])
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = (rows[-1]["sort_key"], rows[-1]["id"])


class Tiers:
    """The tier catalog, read once per export: the tiers by rank, and the model that stands for
    a tier where a format needs a model name (its cheapest priced model, by name on a tie)."""

    def __init__(self) -> None:
        self.ordered = list(Tier.objects.order_by("rank"))
        self.by_id = {tier.pk: tier for tier in self.ordered}
        self._by_rank = {tier.rank: tier for tier in self.ordered}
        cheapest: dict[int, tuple[Decimal, str]] = {}
        for model in CatalogModel.objects.filter(tier__isnull=False):
            if model.tier_id is None or not model.is_priced:
                continue
            price = (model.input_price_per_mtok or Decimal(0)) + (
                model.output_price_per_mtok or Decimal(0)
            )
            if model.tier_id not in cheapest or (price, model.name) < cheapest[model.tier_id]:
                cheapest[model.tier_id] = (price, model.name)
        self._models = {
            tier.name: cheapest[tier.pk][1] if tier.pk in cheapest else tier.name
            for tier in self.ordered
        }

    def name_of(self, tier_id: int | None) -> str | None:
        tier = self.by_id.get(tier_id) if tier_id is not None else None
        return tier.name if tier else None

    def implied(self, served: Tier | None, verdict: str) -> Tier | None:
        """The right tier a verdict implies, by the case page's rule (``cases.suggested_tier``):
        one rank down for cheaper, one up for stronger, the served tier for correct. On ranks
        here, without building a decision for every label that names no tier."""
        if served is None or verdict not in IMPLIED_STEP:
            return None
        return self._by_rank.get(served.rank + IMPLIED_STEP[verdict])

    def representative(self, tier_name: str) -> str:
        """The cheapest priced model of the tier; the tier's name if it has none."""
        return self._models.get(tier_name, tier_name)


def build(
    rows: list[dict[str, Any]], *, tiers: Tiers, test_percent: int, detector_version: str
) -> list[dict[str, Any]]:
    """The records of one chunk: four queries for the whole chunk (flags, labels, assessments,
    and which decisions are labelled blind)."""
    ids = list({row["id"] for row in rows})
    flags: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for decision_id, kind, confidence, dollars, reasons, version in (
        Flag.objects.filter(decision_id__in=ids, detector_version=detector_version)
        .order_by("kind", "pk")
        .values_list("decision_id", "kind", "confidence", "dollars", "reasons", "detector_version")
    ):
        flags[decision_id].append(
            {
                "kind": kind,
                "confidence": confidence,
                "dollars": dollars,
                "reasons": [str(reason) for reason in reasons or []],
                "detector_version": version,
            }
        )
    given: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    labelled = Label.objects.filter(decision_id__in=ids).order_by("pk")
    for label in labelled.values_list(*LABEL_COLUMNS):
        given[label[0]].append(label[1:])
    assessments = {
        row[0]: row[1:]
        for row in Assessment.objects.filter(decision_id__in=ids).values_list(
            "decision_id", "difficulty", "needed_tier_id", "features", "detector_version"
        )
    }
    blind = labels.blind_decision_ids(ids)
    return [
        record(
            row,
            flags=flags.get(row["id"], []),
            labels_given=[] if row["id"] in blind else given.get(row["id"], []),
            assessment=assessments.get(row["id"]),
            blind=row["id"] in blind,
            tiers=tiers,
            test_percent=test_percent,
        )
        for row in rows
    ]


def record(
    row: dict[str, Any],
    *,
    flags: list[dict[str, Any]],
    labels_given: list[tuple[Any, ...]],
    assessment: tuple[Any, ...] | None,
    blind: bool,
    tiers: Tiers,
    test_percent: int,
) -> dict[str, Any]:
    """One decision as an export record; docs/exports.md describes every field."""
    served = tiers.by_id.get(row["served_tier_id"])
    verdict, right_tier, agreement = agreed(served, labels_given, tiers)
    difficulty, needed_id, features, assessed_by = assessment or (None, None, None, None)
    needed = tiers.by_id.get(needed_id)
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "gateway": row["gateway__name"],
        "occurred_at": row["occurred_at"],
        "prompt": row["prompt_text"],
        "response_excerpt": row["response_excerpt"],
        "served_model": row["served_model__name"],
        "served_tier": served.name if served else None,
        "served_tier_rank": served.rank if served else None,
        "requested_model": row["requested_model"],
        "router_name": row["router_name"],
        "router_version": row["router_version"],
        "router_score": row["router_score"],
        "router_threshold": row["router_threshold"],
        "router_category": row["router_category"],
        "router_tier": row["router_tier"],
        "router_cause": row["router_cause"],
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "cost_usd": row["cost_usd"],
        "latency_ms": row["latency_ms"],
        "status": row["status"],
        "error_type": row["error_type"],
        "http_status": row["http_status"],
        "trace_id": row["trace_id"],
        "fallback_chain": [str(name) for name in row["fallback_chain"] or []],
        "retries": row["retries"],
        "user_feedback": row["user_feedback"],
        "judge_score": row["judge_score"],
        "retried": row["retried"],
        "escalated": row["escalated"],
        "difficulty": difficulty,
        "needed_tier": needed.name if needed else None,
        "assessed_by": assessed_by,
        "features": dict(features) if features is not None else None,
        "flags": flags,
        "labels": [
            {
                "reviewer": reviewer,
                "verdict": label_verdict,
                "right_tier": tiers.name_of(right_tier_id),
                "note": note,
                "created_at": created_at,
                "updated_at": updated_at,
            }
            for reviewer, label_verdict, right_tier_id, note, created_at, updated_at in labels_given
        ],
        "labels_hidden": blind,
        "verdict": verdict,
        "right_tier": right_tier.name if right_tier else None,
        "right_tier_rank": right_tier.rank if right_tier else None,
        "agreement": agreement,
        "split": split_of(row["event_id"], test_percent),
    }


def agreed(
    served: Tier | None, labels_given: list[tuple[Any, ...]], tiers: Tiers
) -> tuple[str | None, Tier | None, str | None]:
    """What the labels agree on: (verdict, right tier, agreement). Agreement is ``single`` (one
    label), ``unanimous`` (all the same verdict and right tier) or ``split`` (then no verdict
    or tier); all None without labels. A label without a right tier counts as the tier its
    verdict implies, as on the case page (one down, one up, the served tier)."""
    if not labels_given:
        return None, None, None
    verdicts = {label[1] for label in labels_given}
    right_tiers = [
        tiers.by_id.get(label[2]) if label[2] is not None else tiers.implied(served, label[1])
        for label in labels_given
    ]
    tier_ids = {tier.pk if tier else None for tier in right_tiers}
    if len(verdicts) > 1 or len(tier_ids) > 1:
        return None, None, "split"
    return labels_given[0][1], right_tiers[0], "single" if len(labels_given) == 1 else "unanimous"
