"""The decisions explorer: filters read from a URL's query string, one page of decisions at a
time by keyset pagination, sorted by time, cost or flag confidence.

The same filters drive the explorer page, the read API and (later) exports, so a shared URL
means the same rows everywhere.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.http import QueryDict
from django.utils.dateparse import parse_datetime

from review.detection import Detector
from review.models import Decision, Flag, FlagKind, Gateway, Label, Tier, Verdict

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class Sort:
    TIME = "time"
    COST = "cost"
    CONFIDENCE = "confidence"
    CHOICES = [(TIME, "time"), (COST, "cost"), (CONFIDENCE, "flag confidence")]


class FilterForm(forms.Form):
    """The explorer's filters. Every field is optional; an empty form lists everything."""

    since = forms.DateTimeField(
        required=False,
        help_text="From this time (inclusive), UTC.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        required=False,
        help_text="Before this time, UTC.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    gateway = forms.ModelChoiceField(
        queryset=Gateway.objects.all(), to_field_name="name", required=False, empty_label="any"
    )
    model = forms.CharField(max_length=200, required=False, help_text="Served model name.")
    tier = forms.ModelChoiceField(
        queryset=Tier.objects.all(), to_field_name="name", required=False, empty_label="any"
    )
    category = forms.CharField(max_length=60, required=False, help_text="The router's category.")
    flag = forms.ChoiceField(
        required=False,
        choices=[
            ("", "any or none"),
            ("any", "flagged"),
            ("none", "not flagged"),
            *FlagKind.choices,
        ],
    )
    label = forms.ChoiceField(
        required=False,
        choices=[
            ("", "any or none"),
            ("any", "labelled"),
            ("none", "not labelled"),
            *Verdict.choices,
        ],
    )
    status = forms.ChoiceField(required=False, choices=[("", "any"), *Decision.Status.choices])
    q = forms.CharField(max_length=200, required=False, strip=True, label="Prompt contains")
    sort = forms.ChoiceField(required=False, choices=Sort.CHOICES)
    order = forms.ChoiceField(
        required=False, choices=[("desc", "descending"), ("asc", "ascending")]
    )
    after = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput)
    limit = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "must be later than since")
        if data.get("after"):
            try:
                key, last_id = decode_cursor(data["after"])
                data["after"] = (_key_value(data.get("sort") or Sort.TIME, key), last_id)
            except ValueError as error:
                self.add_error("after", str(error))
        return data


@dataclass(frozen=True)
class Page:
    decisions: list[Decision]
    next_cursor: str | None
    sort: str
    descending: bool
    detector_version: str


FILTER_NAMES = (
    *("since", "until", "gateway", "model", "tier", "category", "flag", "label", "status", "q"),
    *("sort", "order", "limit"),
)


def filter_form(params: QueryDict) -> FilterForm:
    return FilterForm(params)


def decisions(
    data: dict[str, Any], *, detector_version: str | None = None, blind: set[int] | None = None
) -> QuerySet[Decision]:
    """The decisions a cleaned filter form selects, unordered. ``blind``: decisions whose labels
    the viewer may not see yet (``labels.blind_to``); a label filter leaves them out, or whether
    they match would tell the hidden verdict."""
    version = detector_version or Detector.current().version
    found = Decision.objects.all()
    if data.get("since"):
        found = found.filter(occurred_at__gte=data["since"])
    if data.get("until"):
        found = found.filter(occurred_at__lt=data["until"])
    if data.get("gateway"):
        found = found.filter(gateway=data["gateway"])
    if data.get("model"):
        found = found.filter(served_model__name=data["model"])
    if data.get("tier"):
        found = found.filter(served_tier=data["tier"])
    if data.get("category"):
        found = found.filter(router_category=data["category"])
    if data.get("status"):
        found = found.filter(status=data["status"])
    if data.get("q"):
        found = found.filter(prompt_text__icontains=data["q"])
    flag = data.get("flag")
    if flag:
        current_flags = Flag.objects.filter(decision=OuterRef("pk"), detector_version=version)
        if flag in FlagKind.values:
            current_flags = current_flags.filter(kind=flag)
        found = found.filter(~Exists(current_flags) if flag == "none" else Exists(current_flags))
    label = data.get("label")
    if label:
        labels = Label.objects.filter(decision=OuterRef("pk"))
        if label in Verdict.values:
            labels = labels.filter(verdict=label)
        found = found.filter(~Exists(labels) if label == "none" else Exists(labels))
        if blind:
            found = found.exclude(pk__in=blind)
    return found


def page(
    data: dict[str, Any], *, detector_version: str | None = None, blind: set[int] | None = None
) -> Page:
    """One page of the filtered decisions, after the cursor in ``data['after']``, each with its
    current flags and its labels prefetched."""
    version = detector_version or Detector.current().version
    sort = data.get("sort") or Sort.TIME
    descending = (data.get("order") or "desc") == "desc"
    limit = data.get("limit") or PAGE_SIZE
    found = decisions(data, detector_version=version, blind=blind)
    if sort == Sort.COST:
        # Unpriced calls (a model without catalog prices) have no place in a cost order.
        found = found.filter(cost_usd__isnull=False).annotate(sort_key=F("cost_usd"))
    elif sort == Sort.CONFIDENCE:
        # One row per current flag: only flagged decisions have a confidence.
        found = found.filter(flags__detector_version=version).annotate(
            sort_key=F("flags__confidence")
        )
    else:
        found = found.annotate(sort_key=F("occurred_at"))
    cursor = data.get("after")
    if cursor:
        key, last_id = cursor
        # The plain range condition (<= / >=) is redundant but lets PostgreSQL seek the index to
        # the cursor instead of reading and discarding every row before it.
        if descending:
            found = found.filter(
                Q(sort_key__lte=key), Q(sort_key__lt=key) | Q(sort_key=key, pk__lt=last_id)
            )
        else:
            found = found.filter(
                Q(sort_key__gte=key), Q(sort_key__gt=key) | Q(sort_key=key, pk__gt=last_id)
            )
    ordering = ["-sort_key", "-pk"] if descending else ["sort_key", "pk"]
    rows: list[Any] = list(
        found.order_by(*ordering)
        .select_related("gateway", "served_model", "served_tier")
        .prefetch_related(
            Prefetch(
                "flags",
                queryset=Flag.objects.filter(detector_version=version),
                to_attr="current_flags",
            ),
            Prefetch("labels", queryset=Label.objects.select_related("reviewer", "right_tier")),
        )[: limit + 1]
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(last.sort_key, last.pk)
    return Page(
        decisions=rows,
        next_cursor=next_cursor,
        sort=sort,
        descending=descending,
        detector_version=version,
    )


def encode_cursor(key: Any, last_id: int) -> str:
    if isinstance(key, datetime):
        key = key.isoformat()
    elif isinstance(key, Decimal):
        key = str(key)
    raw = json.dumps([key, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    """The (sort value, id) a cursor carries; a ValueError says why it is unusable."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValueError("is not a cursor this explorer gave out") from error
    if not isinstance(last_id, int) or not isinstance(key, str | int | float):
        raise ValueError("is not a cursor this explorer gave out")
    return key, last_id


def _key_value(sort: str, key: Any) -> Any:
    try:
        if sort == Sort.TIME:
            moment = parse_datetime(str(key))
            if moment is None:
                raise ValueError
            return moment
        if sort == Sort.COST:
            return Decimal(str(key))
        return float(key)
    except (ValueError, InvalidOperation) as error:
        # A cursor from another sort order: the caller asked for something contradictory.
        raise ValueError(f"does not belong to the {sort} order") from error


def query_string(data: dict[str, Any], **changes: Any) -> str:
    """The filters of ``data`` as a query string, with ``changes`` applied; empty values left out
    so shared URLs stay short."""
    params = QueryDict(mutable=True)
    merged = {**{name: data.get(name) for name in FILTER_NAMES}, **changes}
    for name, value in merged.items():
        if value in (None, ""):
            continue
        if isinstance(value, datetime):
            # UTC without an offset: what a datetime-local field shows and sends back.
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        elif hasattr(value, "name"):
            value = value.name
        params[name] = str(value)
    return params.urlencode()
