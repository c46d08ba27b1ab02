"""The dashboard's figures, read from the daily rollups only (``review.rollups``): the KPIs of a
range of days with their change against the range just before it, and the series its charts
draw. Nothing here reads the decisions table.

Judgments come from each labelled decision's first label (the verdict of record); a second
label only measures agreement. A flag is *reviewed* when that first label is not ``unsure``,
and *confirmed* when it points the flag's way (``should_be_cheaper`` for overkill,
``should_be_stronger`` for underpowered). The miss rate is the share of a round's random
sample of unflagged decisions judged misrouted either way.
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Max, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from review import explorer
from review.models import (
    DIFFICULTY_FIELDS,
    LATENCY_BUCKETS_MS,
    LATENCY_FIELDS,
    CatalogModel,
    DailyFlagRollup,
    DailyGatewayRollup,
    DailyReviewRollup,
    DailyRollup,
    DetectorModel,
    DetectorSettings,
    FlagKind,
    Gateway,
    PolicyVersion,
    RollupDay,
    Tier,
    Verdict,
)
from review.rollups import day_start, pending_days, utc_day

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
# A custom range longer than two years is more likely a typo than a question.
MAX_DAYS = 731
TOP = 10
MISROUTED = (Verdict.SHOULD_BE_CHEAPER, Verdict.SHOULD_BE_STRONGER)
# The right tier a verdict implies when the reviewer left it blank, as on the case page.
VERDICT_STEP = {Verdict.SHOULD_BE_CHEAPER: -1, Verdict.SHOULD_BE_STRONGER: 1, Verdict.CORRECT: 0}
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Selection:
    """What the dashboard shows: the UTC days ``first`` to ``last`` (inclusive) and the
    optional filters. A policy version has already narrowed the days to when it was active."""

    first: date
    last: date
    gateway: Gateway | None = None
    tier: Tier | None = None
    model: CatalogModel | None = None
    category: str = ""
    policy: PolicyVersion | None = None

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.length)]

    def previous(self) -> "Selection":
        """The same filters over the same number of days just before."""
        return replace(
            self, first=self.first - timedelta(days=self.length), last=self.first - timedelta(1)
        )

    def explorer_url(
        self, *, first: date | None = None, last: date | None = None, **filters: Any
    ) -> str:
        """The decisions explorer showing what this selection (narrowed by ``first``/``last``
        and the explorer's own ``filters``: tier, flag, label, sort…) counts."""
        return self.explorer_urls([(first or self.first, last or self.last)], **filters)[0]

    def explorer_urls(self, spans: list[tuple[date, date]], **filters: Any) -> list[str]:
        """``explorer_url`` for each (first, last) span, the same filters otherwise. Charts link
        every point: the filters are encoded once, the days per span."""
        data = {
            "since": day_start(self.first),
            "until": day_start(self.last),
            "gateway": self.gateway,
            "tier": self.tier,
            "model": self.model.name if self.model else None,
            "category": self.category,
        }
        # since and until lead the explorer's query strings; the rest is the same for all.
        rest = explorer.query_string(data, **filters).split("&", 2)[2:]
        path = reverse("decisions")
        return [
            "&".join(
                [
                    f"{path}?since={_midnight(first)}",
                    f"until={_midnight(last + timedelta(days=1))}",
                    *rest,
                ]
            )
            for first, last in spans
        ]

    def filter(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        rows = rows.filter(day__gte=self.first, day__lte=self.last)
        if self.gateway is not None:
            rows = rows.filter(gateway=self.gateway)
        if self.tier is not None:
            rows = rows.filter(tier=self.tier)
        if self.model is not None:
            rows = rows.filter(model=self.model)
        if self.category:
            rows = rows.filter(category=self.category)
        return rows


def _midnight(day: date) -> str:
    """The start of a UTC day as explorer.query_string writes it (encoded, without offset)."""
    return f"{day.isoformat()}T00%3A00%3A00"


class PolicyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"v{obj.number} ({obj.status})"


class DashboardForm(forms.Form):
    """The dashboard's filters, all in the URL. Custom days win over a preset; a policy version
    narrows the days to those it was active (all of them when no days are given)."""

    days = forms.TypedChoiceField(
        choices=[(n, f"{n} days") for n in PRESETS],
        coerce=int,
        required=False,
        empty_value=None,
        label="Last",
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    gateway = forms.ModelChoiceField(
        queryset=Gateway.objects.all(), to_field_name="name", required=False, empty_label="any"
    )
    tier = forms.ModelChoiceField(
        queryset=Tier.objects.all(), to_field_name="name", required=False, empty_label="any"
    )
    model = forms.CharField(max_length=200, required=False, help_text="Served model name.")
    category = forms.CharField(max_length=60, required=False, help_text="The router's category.")
    policy = PolicyChoiceField(
        queryset=PolicyVersion.objects.filter(activated_at__isnull=False).order_by("-number"),
        to_field_name="number",
        required=False,
        empty_label="any",
        label="Policy version",
    )

    def __init__(self, *args: Any, today: date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or utc_day(timezone.now())

    def clean_model(self) -> CatalogModel | None:
        name = self.cleaned_data.get("model") or ""
        if not name:
            return None
        model = CatalogModel.objects.filter(name=name).first()
        if model is None:
            raise forms.ValidationError(f"no model named {name!r} in the catalog")
        return model

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        since, until = data.get("since"), data.get("until")
        length = data.get("days") or DEFAULT_DAYS
        custom = since is not None or until is not None
        last = until or self.today
        first = since or last - timedelta(days=length - 1)
        if first > last:
            self.add_error("until", "must not be before From")
            return data
        policy = data.get("policy")
        if policy is not None:
            began, ended = policy_days(policy, today=self.today)
            if not custom:
                first, last = began, ended
            elif last < began or first > ended:
                self.add_error(
                    "policy",
                    f"v{policy.number} was active from {began} to {ended}, outside the days chosen",
                )
                return data
            else:
                first, last = max(first, began), min(last, ended)
        if (last - first).days + 1 > MAX_DAYS:
            self.add_error("since", f"choose at most {MAX_DAYS} days")
            return data
        data["selection"] = Selection(
            first=first,
            last=last,
            gateway=data.get("gateway"),
            tier=data.get("tier"),
            model=data.get("model"),
            category=data.get("category") or "",
            policy=policy,
        )
        return data


def policy_days(version: PolicyVersion, *, today: date) -> tuple[date, date]:
    """The UTC days a policy version was active: from its activation to its retirement (or to
    today while it is active). Rollups are daily, so a policy's first and last days are whole
    days, shared with the version before or after it."""
    if version.activated_at is None:
        raise ValueError(f"policy v{version.number} was never active")
    began = utc_day(version.activated_at)
    retired = version.retired_at
    if (
        version.status == PolicyVersion.Status.ACTIVE
        or retired is None
        or retired < (version.activated_at)
    ):
        return began, max(began, today)
    return began, utc_day(retired)


def detector_version() -> str:
    """``Detector.current().version`` without loading the learned model's estimators: the
    version whose flags the dashboard counts, as the explorer does."""
    revision = DetectorSettings.current().revision
    model = DetectorModel.objects.order_by("-version").only("version", "adopted_kinds").first()
    if model is not None and model.adopted_kinds:
        return f"learned-v{model.version}-r{revision}"
    return f"heuristic-r{revision}"


# --- Totals of a range ---------------------------------------------------------------------------


@dataclass
class Totals:
    """What a range of days adds up to, for the KPIs."""

    decisions: int = 0
    cost: Decimal = Decimal(0)
    calls_by_tier: dict[int | None, int] = field(default_factory=dict)
    failures_by_tier: dict[int | None, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    flag_dollars: dict[str, Decimal] = field(default_factory=dict)
    reviewed: dict[str, int] = field(default_factory=dict)
    confirmed: dict[str, int] = field(default_factory=dict)
    sample_reviewed: int = 0
    sample_misrouted: int = 0
    # Verdict pairs (first label, second label) of doubly-labelled decisions.
    pairs: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def cost_per_1k(self) -> Decimal | None:
        return self.cost * 1000 / self.decisions if self.decisions else None

    def share(self, tier_id: int | None) -> float | None:
        return self.calls_by_tier.get(tier_id, 0) / self.decisions if self.decisions else None

    def failure_rate(self, tier_id: int | None) -> float | None:
        calls = self.calls_by_tier.get(tier_id, 0)
        return self.failures_by_tier.get(tier_id, 0) / calls if calls else None

    def precision(self, kind: str) -> float | None:
        reviewed = self.reviewed.get(kind, 0)
        return self.confirmed.get(kind, 0) / reviewed if reviewed else None

    @property
    def miss_rate(self) -> float | None:
        return self.sample_misrouted / self.sample_reviewed if self.sample_reviewed else None

    @property
    def paired(self) -> int:
        return sum(self.pairs.values())

    @property
    def kappa(self) -> float | None:
        return cohen_kappa(self.pairs)


def cohen_kappa(pairs: dict[tuple[str, str], int]) -> float | None:
    """Cohen's kappa of the first against the second verdict, from the counts of each pair;
    None without pairs, 1 when every label used the one same verdict (as rounds.agreement)."""
    total = sum(pairs.values())
    if not total:
        return None
    first: dict[str, int] = defaultdict(int)
    second: dict[str, int] = defaultdict(int)
    for (a, b), n in pairs.items():
        first[a] += n
        second[b] += n
    observed = sum(n for (a, b), n in pairs.items() if a == b) / total
    expected = sum(first[v] * second[v] for v in first.keys() | second.keys()) / total**2
    if expected == 1:
        return 1.0
    return (observed - expected) / (1 - expected)


def _traffic(selection: Selection, *, by_day: bool) -> list[dict[str, Any]]:
    group: tuple[str, ...] = ("day", "tier_id") if by_day else ("tier_id",)
    columns: tuple[str, ...] = ("decisions", "cost_usd", "failures")
    if by_day:
        columns += ("assessed", *LATENCY_FIELDS, *DIFFICULTY_FIELDS)
    # Without a model or category filter, the per-gateway rollup has the same figures in about
    # a hundredth of the rows.
    table = DailyRollup if selection.model or selection.category else DailyGatewayRollup
    return list(
        selection.filter(table.objects.all())
        .values(*group)
        .annotate(**{f"sum_{name}": Sum(name) for name in columns})
        .order_by()
    )


def _flags(selection: Selection, version: str, *, by_day: bool) -> list[dict[str, Any]]:
    group = ("day", "kind") if by_day else ("kind",)
    return list(
        selection.filter(DailyFlagRollup.objects.all())
        .filter(detector_version=version)
        .values(*group)
        .annotate(
            n=Sum("flags"),
            dollars_sum=Sum("dollars"),
            reviewed_n=Sum("reviewed"),
            confirmed_n=Sum("confirmed"),
        )
        .order_by()
    )


def _reviews(selection: Selection, *, by_tier: bool) -> list[dict[str, Any]]:
    group: tuple[str, ...] = ("verdict", "second_verdict", "sampled")
    if by_tier:
        group += ("tier_id", "right_tier_id")
    return list(
        selection.filter(DailyReviewRollup.objects.all())
        .values(*group)
        .annotate(n=Sum("decisions"))
        .order_by()
    )


def _totals(
    traffic: list[dict[str, Any]], flags: list[dict[str, Any]], reviews: list[dict[str, Any]]
) -> Totals:
    totals = Totals()
    for row in traffic:
        tier = row["tier_id"]
        totals.decisions += row["sum_decisions"]
        totals.cost += row["sum_cost_usd"] or 0
        totals.calls_by_tier[tier] = totals.calls_by_tier.get(tier, 0) + row["sum_decisions"]
        totals.failures_by_tier[tier] = totals.failures_by_tier.get(tier, 0) + row["sum_failures"]
    for row in flags:
        kind = row["kind"]
        totals.flags[kind] = totals.flags.get(kind, 0) + row["n"]
        totals.flag_dollars[kind] = totals.flag_dollars.get(kind, Decimal(0)) + (
            row["dollars_sum"] or 0
        )
        totals.reviewed[kind] = totals.reviewed.get(kind, 0) + row["reviewed_n"]
        totals.confirmed[kind] = totals.confirmed.get(kind, 0) + row["confirmed_n"]
    for row in reviews:
        if row["sampled"] and row["verdict"] != Verdict.UNSURE:
            totals.sample_reviewed += row["n"]
            totals.sample_misrouted += row["n"] if row["verdict"] in MISROUTED else 0
        if row["second_verdict"]:
            pair = (row["verdict"], row["second_verdict"])
            totals.pairs[pair] = totals.pairs.get(pair, 0) + row["n"]
    return totals


def totals(selection: Selection, *, version: str | None = None) -> Totals:
    """The totals of a selection, read from the rollups (three grouped queries)."""
    version = version or detector_version()
    return _totals(
        _traffic(selection, by_day=False),
        _flags(selection, version, by_day=False),
        _reviews(selection, by_tier=False),
    )


# --- The board: everything the dashboard shows ---------------------------------------------------


@dataclass(frozen=True)
class Percentile:
    """A percentile read from the latency histogram: it lies in (lower, upper] ms; ``upper``
    is None past the last bucket."""

    lower: int
    upper: int | None


@dataclass
class Board:
    selection: Selection
    tiers: list[Tier]
    detector_version: str
    current: Totals
    previous: Totals
    # (day, tier id) → calls and cost
    daily_calls: dict[tuple[date, int | None], int]
    daily_cost: dict[tuple[date, int | None], Decimal]
    # Monday of the week → kind → flags, reviewed, confirmed
    weekly_flags: dict[date, dict[str, tuple[int, int, int]]]
    latency: dict[int | None, list[int]]
    difficulty: dict[int | None, list[int]]
    # (served tier id, right tier id) → labelled decisions; and how many had no right tier
    confusion: dict[tuple[int, int], int]
    without_right_tier: int
    top_models: list[tuple[str, Decimal, int]]
    top_categories: list[tuple[str, Decimal, int]]
    categories: list[str]
    refreshed_at: datetime | None
    pending_days: int

    @property
    def served_tier_ids(self) -> list[int | None]:
        """Tiers with traffic in range, cheapest first, unclassified (None) last."""
        present = {tier for (_, tier) in self.daily_calls}
        ordered: list[int | None] = [t.pk for t in self.tiers if t.pk in present]
        return ordered + ([None] if None in present else [])

    def tier_name(self, tier_id: int | None) -> str:
        return next((t.name for t in self.tiers if t.pk == tier_id), "unclassified")

    def latency_percentile(self, tier_id: int | None, percentile: int) -> Percentile | None:
        return histogram_percentile(self.latency.get(tier_id, []), percentile)


def histogram_percentile(counts: list[int], percentile: int) -> Percentile | None:
    """The bucket holding the nearest-rank percentile of a latency histogram."""
    total = sum(counts)
    if not total:
        return None
    rank = max(1, math.ceil(percentile / 100 * total))
    seen = 0
    for index, n in enumerate(counts):
        seen += n
        if seen >= rank:
            lower = LATENCY_BUCKETS_MS[index - 1] if index else 0
            upper = LATENCY_BUCKETS_MS[index] if index < len(LATENCY_BUCKETS_MS) else None
            return Percentile(lower=lower, upper=upper)
    raise AssertionError("unreachable: the ranks add up to the total")


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def board(selection: Selection) -> Board:
    """Everything the dashboard shows for a selection, from the rollups."""
    version = detector_version()
    tiers = list(Tier.objects.order_by("rank"))
    traffic = _traffic(selection, by_day=True)
    flags = _flags(selection, version, by_day=True)
    reviews = _reviews(selection, by_tier=True)
    previous = selection.previous()

    daily_calls: dict[tuple[date, int | None], int] = {}
    daily_cost: dict[tuple[date, int | None], Decimal] = {}
    latency: dict[int | None, list[int]] = {}
    difficulty: dict[int | None, list[int]] = {}
    for row in traffic:
        key = (row["day"], row["tier_id"])
        daily_calls[key] = row["sum_decisions"]
        daily_cost[key] = row["sum_cost_usd"] or Decimal(0)
        _add(latency.setdefault(row["tier_id"], [0] * len(LATENCY_FIELDS)), row, LATENCY_FIELDS)
        _add(
            difficulty.setdefault(row["tier_id"], [0] * len(DIFFICULTY_FIELDS)),
            row,
            DIFFICULTY_FIELDS,
        )

    weekly: dict[date, dict[str, tuple[int, int, int]]] = {}
    for row in flags:
        week = weekly.setdefault(week_of(row["day"]), {})
        n, reviewed, confirmed = week.get(row["kind"], (0, 0, 0))
        week[row["kind"]] = (
            n + row["n"],
            reviewed + row["reviewed_n"],
            confirmed + row["confirmed_n"],
        )

    ranks = {tier.pk: tier.rank for tier in tiers}
    by_rank = {tier.rank: tier.pk for tier in tiers}
    confusion: dict[tuple[int, int], int] = {}
    without_right_tier = 0
    for row in reviews:
        served, right = row["tier_id"], row["right_tier_id"]
        if right is None and served is not None and row["verdict"] in VERDICT_STEP:
            right = by_rank.get(ranks[served] + VERDICT_STEP[Verdict(row["verdict"])])
        if served is None or right is None:
            without_right_tier += row["n"]
            continue
        confusion[(served, right)] = confusion.get((served, right), 0) + row["n"]

    waste_by_model, waste_by_category = top_waste(selection, version)
    return Board(
        selection=selection,
        tiers=tiers,
        detector_version=version,
        current=_totals(traffic, flags, reviews),
        previous=totals(previous, version=version),
        daily_calls=daily_calls,
        daily_cost=daily_cost,
        weekly_flags=weekly,
        latency=latency,
        difficulty=difficulty,
        confusion=confusion,
        without_right_tier=without_right_tier,
        top_models=waste_by_model,
        top_categories=waste_by_category,
        categories=recent_categories(selection),
        refreshed_at=RollupDay.objects.filter(
            day__gte=selection.first, day__lte=selection.last
        ).aggregate(at=Max("refreshed_at"))["at"],
        pending_days=pending_days(),
    )


def _add(into: list[int], row: dict[str, Any], fields: tuple[str, ...]) -> None:
    for index, name in enumerate(fields):
        into[index] += row[f"sum_{name}"] or 0


Waste = list[tuple[str, Decimal, int]]


def top_waste(selection: Selection, version: str) -> tuple[Waste, Waste]:
    """The ``TOP`` models and the ``TOP`` categories by the dollars their overkill flags put at
    stake, with their flag counts: one grouped query (by model and category) for both."""
    by_model: dict[str, list[Any]] = {}
    by_category: dict[str, list[Any]] = {}
    for row in (
        selection.filter(DailyFlagRollup.objects.all())
        .filter(detector_version=version, kind=FlagKind.OVERKILL)
        .values("model__name", "category")
        .annotate(total=Sum("dollars"), n=Sum("flags"))
        .order_by()
    ):
        for into, key in ((by_model, row["model__name"]), (by_category, row["category"])):
            entry = into.setdefault(key, [Decimal(0), 0])
            entry[0] += row["total"] or 0
            entry[1] += row["n"]

    def top(found: dict[str, list[Any]]) -> Waste:
        ranked = sorted(found.items(), key=lambda item: (-item[1][0], item[0]))[:TOP]
        return [(name, dollars, n) for name, (dollars, n) in ranked]

    return top(by_model), top(by_category)


# The category filter's suggestions: categories of the selection's last week (by its other
# filters), a small slice of the rollups rather than a pass over all of the range.
CATEGORY_SUGGESTION_DAYS = 7


def recent_categories(selection: Selection) -> list[str]:
    recent = replace(
        selection,
        category="",
        first=max(selection.first, selection.last - timedelta(days=CATEGORY_SUGGESTION_DAYS - 1)),
    )
    return sorted(
        recent.filter(DailyRollup.objects.all())
        .exclude(category="")
        .order_by()
        .values_list("category", flat=True)
        .distinct()
    )


# --- KPIs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    """One figure with the previous range's for comparison. ``kind`` says how to show it and
    how to read a change: counts and money change in percent, rates in percentage points.
    ``better`` is "up", "down" or "" when neither is good news."""

    key: str
    label: str
    value: float | Decimal | None
    previous: float | Decimal | None
    kind: str  # count, money, rate, kappa
    better: str = ""
    note: str = ""
    href: str = ""

    @property
    def shown(self) -> str:
        return show(self.value, self.kind)

    @property
    def previous_shown(self) -> str:
        return show(self.previous, self.kind)

    @property
    def change(self) -> str:
        """The change against the previous range, in words a KPI card fits."""
        if self.value is None or self.previous is None:
            return "no previous figure" if self.value is not None else ""
        if self.kind in ("count", "money"):
            if not self.previous:
                return "new" if self.value else "no change"
            percent = (float(self.value) - float(self.previous)) / float(self.previous) * 100
            return "no change" if round(percent, 1) == 0 else f"{percent:+.1f}%"
        difference = float(self.value) - float(self.previous)
        if self.kind == "rate":
            return "no change" if round(difference * 100, 1) == 0 else f"{difference * 100:+.1f} pt"
        return "no change" if round(difference, 2) == 0 else f"{difference:+.2f}"

    @property
    def direction(self) -> str:
        """``good``, ``bad`` or "" for the change's colour."""
        if not self.better or self.value is None or self.previous is None:
            return ""
        if self.value == self.previous:
            return ""
        if self.kind in ("count", "money") and not self.previous:
            return ""  # from nothing: new traffic, neither better nor worse
        rose = self.value > self.previous
        return "good" if rose == (self.better == "up") else "bad"


def show(value: float | Decimal | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "count":
        return f"{int(value):,}"
    if kind == "money":
        return f"${value:,.2f}" if abs(float(value)) >= 1 else f"${value:,.4f}"
    if kind == "rate":
        return f"{float(value) * 100:.1f}%"
    return f"{float(value):.2f}"


def kpis(board: Board) -> list[Kpi]:
    """The KPIs, in the order the page shows them."""
    now, before, selection = board.current, board.previous, board.selection
    cheapest = board.tiers[0] if board.tiers else None
    items = [
        Kpi(
            "decisions",
            "decisions",
            now.decisions,
            before.decisions,
            "count",
            href=selection.explorer_url(),
        ),
        Kpi("cost", "total cost", now.cost, before.cost, "money", better="down"),
        Kpi(
            "cost_per_1k",
            "cost per 1,000 requests",
            now.cost_per_1k,
            before.cost_per_1k,
            "money",
            better="down",
        ),
        Kpi(
            "overkill_dollars",
            "estimated waste on overkill flags",
            now.flag_dollars.get(FlagKind.OVERKILL, Decimal(0)),
            before.flag_dollars.get(FlagKind.OVERKILL, Decimal(0)),
            "money",
            better="down",
            note=f"{now.flags.get(FlagKind.OVERKILL, 0):,} flags",
            href=selection.explorer_url(flag=FlagKind.OVERKILL.value),
        ),
    ]
    if cheapest is not None:
        items.append(
            Kpi(
                "cheap_failure_rate",
                f"failure rate of {cheapest.name}-tier calls",
                now.failure_rate(cheapest.pk),
                before.failure_rate(cheapest.pk),
                "rate",
                better="down",
                note=f"of {now.calls_by_tier.get(cheapest.pk, 0):,} calls",
                href=selection.explorer_url(tier=cheapest),
            )
        )
    for kind, label in FlagKind.choices:
        items.append(
            Kpi(
                f"precision_{kind}",
                f"{label.lower()} flag precision",
                now.precision(kind),
                before.precision(kind),
                "rate",
                better="up",
                note=f"of {now.reviewed.get(kind, 0):,} reviewed flags",
                href=selection.explorer_url(flag=kind, label="any"),
            )
        )
    items += [
        Kpi(
            "miss_rate",
            "estimated miss rate",
            now.miss_rate,
            before.miss_rate,
            "rate",
            better="down",
            note=f"from {now.sample_reviewed:,} sampled decisions",
        ),
        Kpi(
            "agreement",
            "reviewer agreement (Cohen's κ)",
            now.kappa,
            before.kappa,
            "kappa",
            better="up",
            note=f"on {now.paired:,} doubly-labelled decisions",
        ),
    ]
    for tier_id in board.served_tier_ids or [t.pk for t in board.tiers]:
        tier = next((t for t in board.tiers if t.pk == tier_id), None)
        items.append(
            Kpi(
                f"share_{board.tier_name(tier_id)}",
                f"share of calls: {board.tier_name(tier_id)}",
                now.share(tier_id),
                before.share(tier_id),
                "rate",
                href=selection.explorer_url(tier=tier) if tier else "",
            )
        )
    return items
