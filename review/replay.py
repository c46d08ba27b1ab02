"""What-if replay: what a policy version would have done with a range of past decisions.

For each decision: the tier the policy picks from the gateway's own signals, and that call's cost
at the tier's price (see ``tier_prices``) for the decision's tokens. Against reviewers' labels
(their right tier, each label weighted by the number of labels on the decision): how often the
policy would pick a tier below the right one (the share of ``should_be_stronger``), above it, and
which known misroutes it fixes or
introduces compared with what was served. Where the same request was answered by a cheaper and
a stronger tier (a fallback chain), RouteLLM's APGR and CPT(50%) of the router's score.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count
from django.utils import timezone

from review import policy
from review.models import CatalogModel, Decision, Label, PolicyReplay, PolicyVersion, Tier

CHUNK = 5000
# Judge scores below this count as a failed answer in the pairwise quality.
PAIR_JUDGE_PASS = 0.5

COLUMNS = (
    "pk",
    "router_score",
    "router_category",
    "prompt_text",
    "input_tokens",
    "output_tokens",
    "served_tier__rank",
    "cost_usd",
    "gateway_id",
    "trace_id",
    "occurred_at",
    "status",
    "error_type",
    "user_feedback",
    "judge_score",
    "retried",
    "escalated",
)


@dataclass
class Tally:
    """Running sums over the replayed decisions."""

    tier_names: list[str]
    requests: int = 0
    calls: list[int] = field(default_factory=list)
    served_calls: list[int] = field(default_factory=list)
    cost: Decimal = Decimal(0)
    served_cost: Decimal = Decimal(0)
    changed: int = 0
    labelled: float = 0.0
    too_weak: float = 0.0
    too_strong: float = 0.0
    served_too_weak: float = 0.0
    served_too_strong: float = 0.0
    fixed: float = 0.0
    introduced: float = 0.0

    def __post_init__(self) -> None:
        self.calls = [0] * len(self.tier_names)
        self.served_calls = [0] * len(self.tier_names)


@dataclass(frozen=True)
class TierPrice:
    """Dollars per million input and output tokens of a call on a tier."""

    name: str
    rank: int
    input_per_mtok: Decimal
    output_per_mtok: Decimal

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        return (
            self.input_per_mtok * input_tokens + self.output_per_mtok * output_tokens
        ) / 1_000_000


def tier_prices(since: datetime | None = None, until: datetime | None = None) -> list[TierPrice]:
    """Each tier's price per token, cheapest tier first: the list prices of the models the tier
    served in the range, weighted by their calls (a tier that served nothing there: the median of
    its catalog models). A stronger tier is never priced below a weaker one: a reasoning model
    cheap per token spends far more tokens per answer than the call it would replace logged."""
    served = Decision.objects.filter(served_tier__isnull=False)
    if since is not None and until is not None:
        served = served.filter(occurred_at__gte=since, occurred_at__lt=until)
    calls = dict(
        served.order_by()
        .values("served_model")
        .annotate(n=Count("pk"))
        .values_list("served_model", "n")
    )
    priced = CatalogModel.objects.filter(
        tier__isnull=False, input_price_per_mtok__isnull=False, output_price_per_mtok__isnull=False
    )
    by_tier: dict[int, list[CatalogModel]] = defaultdict(list)
    for model in priced:
        by_tier[model.tier_id].append(model)  # type: ignore[index]
    prices: list[TierPrice] = []
    floor_in, floor_out = Decimal(0), Decimal(0)
    for tier in Tier.objects.order_by("rank"):
        models = by_tier.get(tier.pk, [])
        used = [(m, calls[m.pk]) for m in models if calls.get(m.pk)]
        price_in, price_out = floor_in, floor_out
        if used:
            n = sum(count for _, count in used)
            price_in = sum((_price(m.input_price_per_mtok) * c for m, c in used), Decimal(0)) / n
            price_out = sum((_price(m.output_price_per_mtok) * c for m, c in used), Decimal(0)) / n
        elif models:
            price_in = _median([_price(m.input_price_per_mtok) for m in models])
            price_out = _median([_price(m.output_price_per_mtok) for m in models])
        floor_in, floor_out = max(floor_in, price_in), max(floor_out, price_out)
        prices.append(TierPrice(tier.name, tier.rank, floor_in, floor_out))
    return prices


def _price(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)  # only priced models are read


def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[middle])
    return Decimal(ordered[middle - 1] + ordered[middle]) / 2


def decisions_in(since: datetime, until: datetime) -> Any:
    return Decision.objects.filter(occurred_at__gte=since, occurred_at__lt=until)


def right_tiers(since: datetime, until: datetime) -> dict[int, list[tuple[int, float]]]:
    """decision id → [(right tier rank position, weight)], weights summing to 1 per decision."""
    names = policy.tier_names()
    position = {name: i for i, name in enumerate(names)}
    rows = (
        Label.objects.filter(
            decision__occurred_at__gte=since,
            decision__occurred_at__lt=until,
            right_tier__isnull=False,
        )
        .values_list("decision_id", "right_tier__name")
        .order_by()
    )
    grouped: dict[int, list[int]] = defaultdict(list)
    for decision_id, tier_name in rows:
        grouped[decision_id].append(position[tier_name])
    return {
        decision_id: [(tier, 1 / len(tiers)) for tier in tiers]
        for decision_id, tiers in grouped.items()
    }


def replay(
    version: PolicyVersion,
    *,
    since: datetime,
    until: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Replay ``version`` over the decisions in [since, until); returns the figures."""
    names = policy.tier_names()
    compiled = policy.compile_rules(version.rules, names)
    prices = tier_prices(since, until)
    labels = right_tiers(since, until)
    found = decisions_in(since, until)
    total = found.count()
    tally = Tally(tier_names=names)
    pairs: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    rows = found.order_by().values(*COLUMNS).iterator(chunk_size=CHUNK)
    for row in rows:
        _count(row, compiled, prices, labels, tally)
        if row["trace_id"]:
            pairs[(row["gateway_id"], row["trace_id"])].append(row)
        if progress and tally.requests % CHUNK == 0:
            progress(tally.requests, total)
    if progress:
        progress(tally.requests, total)
    figures = _figures(tally, prices)
    positions = {price.rank: i for i, price in enumerate(prices)}
    figures["pairwise"] = pairwise(pairs.values(), compiled, positions)
    figures["since"], figures["until"] = since.isoformat(), until.isoformat()
    return figures


def _count(
    row: dict[str, Any],
    compiled: policy.Compiled,
    prices: list[TierPrice],
    labels: dict[int, list[tuple[int, float]]],
    tally: Tally,
) -> None:
    prompt = row["prompt_text"] or ""
    tier = compiled.tier_for(
        score=row["router_score"], category=row["router_category"], prompt=prompt
    )
    tokens_in, tokens_out = row["input_tokens"] or 0, row["output_tokens"] or 0
    tally.requests += 1
    tally.calls[tier] += 1
    tally.cost += prices[tier].cost(tokens_in, tokens_out)
    served = row["served_tier__rank"]
    served_position = _position(served, prices)
    if served_position is not None:
        tally.served_calls[served_position] += 1
        tally.served_cost += prices[served_position].cost(tokens_in, tokens_out)
        tally.changed += int(served_position != tier)
    for right, weight in labels.get(row["pk"], ()):
        tally.labelled += weight
        tally.too_weak += weight * (tier < right)
        tally.too_strong += weight * (tier > right)
        if served_position is None:
            continue
        tally.served_too_weak += weight * (served_position < right)
        tally.served_too_strong += weight * (served_position > right)
        was_wrong, is_wrong = served_position != right, tier != right
        tally.fixed += weight * (was_wrong and not is_wrong)
        tally.introduced += weight * (is_wrong and not was_wrong)


def _position(rank: int | None, prices: list[TierPrice]) -> int | None:
    if rank is None:
        return None
    for position, price in enumerate(prices):
        if price.rank == rank:
            return position
    return None


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(tally: Tally, prices: list[TierPrice]) -> dict[str, Any]:
    per_thousand = tally.cost * 1000 / tally.requests if tally.requests else Decimal(0)
    served_per_thousand = (
        tally.served_cost * 1000 / tally.requests if tally.requests else Decimal(0)
    )
    return {
        "requests": tally.requests,
        "tiers": tally.tier_names,
        "prices_per_mtok": [
            [str(round(p.input_per_mtok, 4)), str(round(p.output_per_mtok, 4))] for p in prices
        ],
        "calls_per_tier": tally.calls,
        "served_calls_per_tier": tally.served_calls,
        "cost": str(round(tally.cost, 6)),
        "cost_per_1k": str(round(per_thousand, 6)),
        "served_cost_per_1k": str(round(served_per_thousand, 6)),
        "strongest_tier_share": _share(tally.calls[-1], tally.requests) if tally.calls else None,
        "changed": tally.changed,
        "labelled": round(tally.labelled, 2),
        "should_be_stronger_share": _share(tally.too_weak, tally.labelled),
        "should_be_cheaper_share": _share(tally.too_strong, tally.labelled),
        "served_should_be_stronger_share": _share(tally.served_too_weak, tally.labelled),
        "served_should_be_cheaper_share": _share(tally.served_too_strong, tally.labelled),
        "misroutes_fixed": round(tally.fixed, 2),
        "misroutes_introduced": round(tally.introduced, 2),
    }


def _quality(row: dict[str, Any]) -> float:
    if row["judge_score"] is not None:
        return float(row["judge_score"] >= PAIR_JUDGE_PASS)
    failed = (
        (
            row["status"] == Decision.Status.ERROR
            and row["error_type"] not in Decision.INFRASTRUCTURE_ERRORS
        )
        or row["user_feedback"] == -1
        or bool(row["retried"])
        or bool(row["escalated"])
    )
    return 0.0 if failed else 1.0


def pairwise(
    groups: Iterable[list[dict[str, Any]]],
    compiled: policy.Compiled,
    positions: dict[int, int],
) -> dict[str, Any]:
    """APGR and CPT(50%) (RouteLLM's measures) of the router's score, on requests answered by
    both a cheaper and a stronger tier; and where this policy's choices land on that curve.

    For each such request: the weak answer's and the strong answer's quality (1 or 0 from the
    outcome signals, or the judge's pass). Routing the top-scored share x of requests to the
    strong tier recovers PGR(x) of the gap between all-weak and all-strong quality; APGR is the
    mean of PGR over x, CPT(50%) the least x with PGR ≥ 0.5. ``positions`` maps a tier's rank
    to its position among the policy's tiers."""
    pairs = []
    for attempts in groups:
        ranked = [a for a in attempts if a["served_tier__rank"] is not None]
        if len({a["served_tier__rank"] for a in ranked}) < 2:
            continue
        weak = min(ranked, key=lambda a: (a["served_tier__rank"], a["occurred_at"]))
        strong = max(ranked, key=lambda a: (a["served_tier__rank"], a["occurred_at"]))
        first = min(ranked, key=lambda a: (a["occurred_at"], a["pk"]))
        if first["router_score"] is None:
            continue
        picked = compiled.tier_for(
            score=first["router_score"],
            category=first["router_category"],
            prompt=first["prompt_text"] or "",
        )
        pairs.append(
            (first["router_score"], _quality(weak), _quality(strong), picked, weak, strong)
        )
    if not pairs:
        return {"pairs": 0, "apgr": None, "cpt50": None, "policy_strong_share": None}
    pairs.sort(key=lambda p: -p[0])
    n = len(pairs)
    weak_total = sum(p[1] for p in pairs)
    strong_total = sum(p[2] for p in pairs)
    gap = strong_total - weak_total
    curve = []
    recovered = weak_total
    for k in range(n + 1):
        if k:
            recovered += pairs[k - 1][2] - pairs[k - 1][1]
        curve.append((k / n, (recovered - weak_total) / gap if gap else None))
    if gap:
        values = [pgr for _, pgr in curve if pgr is not None]
        # The trapezoid rule over evenly spaced shares of strong calls.
        apgr = sum((values[i] + values[i + 1]) / 2 for i in range(n)) / n
        cpt50 = next(share for share, pgr in curve if pgr is not None and pgr >= 0.5)
    else:
        apgr, cpt50 = None, None
    strong_share = sum(p[3] >= positions[p[5]["served_tier__rank"]] for p in pairs) / n
    return {
        "pairs": n,
        "weak_quality": round(weak_total / n, 4),
        "strong_quality": round(strong_total / n, 4),
        "apgr": round(apgr, 4) if apgr is not None else None,
        "cpt50": round(cpt50, 4) if cpt50 is not None else None,
        "policy_strong_share": round(strong_share, 4),
    }


# --- Jobs ---------------------------------------------------------------------------------------


def start(version: PolicyVersion, *, since: datetime, until: datetime, by: Any) -> PolicyReplay:
    """A queued replay job; the caller enqueues ``review.tasks.run_replay`` after commit."""
    return PolicyReplay.objects.create(version=version, since=since, until=until, requested_by=by)


def run(job_id: int) -> PolicyReplay:
    job = PolicyReplay.objects.select_related("version").get(pk=job_id)
    claimed = PolicyReplay.objects.filter(pk=job_id, status=PolicyReplay.Status.QUEUED).update(
        status=PolicyReplay.Status.RUNNING
    )
    if not claimed:  # run already, or running elsewhere
        return job

    def progress(done: int, total: int) -> None:
        PolicyReplay.objects.filter(pk=job_id).update(done=done, total=total)

    try:
        figures = replay(job.version, since=job.since, until=job.until, progress=progress)
    except Exception as error:
        PolicyReplay.objects.filter(pk=job_id).update(
            status=PolicyReplay.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    PolicyReplay.objects.filter(pk=job_id).update(
        status=PolicyReplay.Status.DONE, figures=figures, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def latest(version: PolicyVersion, *, since: datetime, until: datetime) -> PolicyReplay | None:
    return (
        PolicyReplay.objects.filter(version=version, since=since, until=until)
        .exclude(status=PolicyReplay.Status.FAILED)
        .first()
    )


def default_range() -> tuple[datetime, datetime]:
    """The last seven days of traffic (up to the newest decision, so a demo week replays)."""
    from datetime import timedelta

    newest = Decision.objects.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    until = (newest or timezone.now()).replace(microsecond=0) + timedelta(seconds=1)
    return until - timedelta(days=7), until


def served_mix(since: datetime, until: datetime) -> dict[str, int]:
    return dict(
        decisions_in(since, until)
        .values_list("served_tier__name")
        .annotate(n=Count("pk"))
        .values_list("served_tier__name", "n")
    )
