"""Policy proposals fitted on reviewers' labels.

The labelled decisions say which tier each request needed (its right tier, each label weighted
by the number of labels on the decision, so two reviewers who disagree count half each). A
proposal starts from the active policy and changes what the labels support:

1. keyword rules whose matching requests mostly needed a cheaper tier are dropped;
2. the score boundaries are searched on a grid for the cheapest set (at each tier's price, see
   ``replay.tier_prices``, for each labelled request's tokens) whose share of requests sent to a
   tier below their right one (``should_be_stronger`` under the new policy) stays within the
   owner's limit;
3. categories that the boundaries still under-serve get a floor, categories that never needed
   more than a tier get a cap, and the boundaries are searched again with them.

Only the gateway's own signals are rule inputs: the router's score and category, the prompt's
words and length. Each change comes with a sentence and the counts behind it.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations_with_replacement
from typing import Any

import numpy as np
from django.contrib.auth.models import User

from review import policy, replay
from review.models import Decision, Label, PolicyVersion

GRID = np.round(np.arange(0.0, 1.0 + 1e-9, 0.025), 3)
# Trying category rules one by one needs many searches: a coarser grid ranks them well enough.
COARSE_GRID = np.round(np.arange(0.0, 1.0 + 1e-9, 0.05), 3)
MIN_CATEGORY_SUPPORT = 8  # labelled requests (weighted) before a category gets its own rule
DEFAULT_MAX_STRONGER = 0.01


@dataclass
class Labelled:
    """The labelled requests as arrays, one row per (decision, right tier) with its weight."""

    score: np.ndarray  # NaN where the router logged no score
    right: np.ndarray
    weight: np.ndarray
    cost: np.ndarray  # [row, tier position]: this request's cost on each tier
    category: list[str]
    prompt: list[str]
    decision_ids: list[int]
    tier_names: list[str]

    @property
    def total(self) -> float:
        return float(self.weight.sum())


@dataclass
class Fit:
    rules: dict[str, Any]
    explanation: list[str]
    report: dict[str, Any] = field(default_factory=dict)


def labelled_requests() -> Labelled:
    names = policy.tier_names()
    position = {name: i for i, name in enumerate(names)}
    prices = replay.tier_prices()
    by_decision: dict[int, list[int]] = defaultdict(list)
    for decision_id, tier_name in (
        Label.objects.filter(right_tier__isnull=False)
        .values_list("decision_id", "right_tier__name")
        .order_by("decision_id", "pk")
    ):
        by_decision[decision_id].append(position[tier_name])
    rows = Decision.objects.filter(pk__in=list(by_decision)).values(
        "pk", "router_score", "router_category", "prompt_text", "input_tokens", "output_tokens"
    )
    score, right, weight, cost, category, prompt, ids = [], [], [], [], [], [], []
    for row in rows.order_by("pk").iterator(chunk_size=2000):
        tokens = (row["input_tokens"] or 0, row["output_tokens"] or 0)
        costs = [float(p.cost(*tokens)) for p in prices]
        tiers = by_decision[row["pk"]]
        for tier in tiers:
            score.append(np.nan if row["router_score"] is None else row["router_score"])
            right.append(tier)
            weight.append(1 / len(tiers))
            cost.append(costs)
            category.append(row["router_category"])
            prompt.append(row["prompt_text"] or "")
            ids.append(row["pk"])
    return Labelled(
        score=np.array(score, dtype=float),
        right=np.array(right, dtype=int),
        weight=np.array(weight, dtype=float),
        cost=np.array(cost, dtype=float).reshape(len(cost), len(names)),
        category=category,
        prompt=prompt,
        decision_ids=ids,
        tier_names=names,
    )


def picks(rules: dict[str, Any], data: Labelled) -> np.ndarray:
    """The tier position the rules pick for each labelled row."""
    compiled = policy.compile_rules(rules, data.tier_names)
    return np.array(
        [
            compiled.tier_for(score=None if np.isnan(s) else float(s), category=c, prompt=p)
            for s, c, p in zip(data.score, data.category, data.prompt, strict=True)
        ],
        dtype=int,
    )


def evaluate(rules: dict[str, Any], data: Labelled) -> dict[str, Any]:
    tiers = picks(rules, data)
    return _measure(tiers, data)


def _measure(tiers: np.ndarray, data: Labelled) -> dict[str, Any]:
    total = data.total or 1.0
    rows = np.arange(len(tiers))
    cost = float((data.cost[rows, tiers] * data.weight).sum()) if len(tiers) else 0.0
    return {
        "labelled": round(data.total, 2),
        "cost_per_1k": round(cost / total * 1000, 6),
        "should_be_stronger_share": round(float(data.weight[tiers < data.right].sum()) / total, 4),
        "should_be_cheaper_share": round(float(data.weight[tiers > data.right].sum()) / total, 4),
    }


def fit(
    *,
    parent: PolicyVersion | None,
    max_should_be_stronger: float = DEFAULT_MAX_STRONGER,
    data: Labelled | None = None,
) -> Fit:
    """Fit a proposal on every label; see the module docstring for the steps."""
    data = data if data is not None else labelled_requests()
    names = data.tier_names
    base = _base_rules(parent, names)
    explanation: list[str] = []
    if not len(data.right):
        return Fit(rules=base, explanation=["no labelled decisions with a right tier yet"])

    requested = max_should_be_stronger
    before = evaluate(base, data) if parent else None
    if before is not None and before["should_be_stronger_share"] > max_should_be_stronger:
        # The active policy is over the limit already: the proposal must not make it worse,
        # and says so.
        explanation.append(
            f"the active policy sends {before['should_be_stronger_share']:.1%} of labelled "
            f"queries below their right tier, above the {max_should_be_stronger:.1%} limit; "
            f"the proposal is held to no worse than that"
        )
        max_should_be_stronger = before["should_be_stronger_share"]
    rules = {**base, "tiers": names, "category_rules": {}}
    rules["keyword_rules"] = _prune_keywords(base.get("keyword_rules", []), data, explanation)
    limit = max_should_be_stronger
    found = _search_boundaries(rules, data, limit, grid=COARSE_GRID)
    rules["score_boundaries"] = found.boundaries
    # A category rule is kept only if the whole policy, boundaries searched again, is cheaper
    # with it within the limit (or, while over it, closer to it).
    for category, rule, reason in _category_candidates(rules, data, limit):
        trial = {**rules, "category_rules": {**rules["category_rules"], category: rule}}
        tried = _search_boundaries(trial, data, limit, grid=COARSE_GRID)
        # At equal cost, higher boundaries win: they leave unlabelled traffic on cheaper tiers.
        better = (
            (round(tried.cost, 9), -sum(tried.boundaries))
            < (round(found.cost, 9), -sum(found.boundaries))
            if tried.within and found.within
            else (tried.within, -tried.stronger) > (found.within, -found.stronger)
        )
        if better:
            rules, found = {**trial, "score_boundaries": tried.boundaries}, tried
            explanation.append(reason)
    rules["score_boundaries"] = _search_boundaries(rules, data, limit).boundaries
    explanation[:0] = _explain_boundaries(base, rules, data)
    policy.validate(rules, tier_names=names)

    after = evaluate(rules, data)
    feasible = after["should_be_stronger_share"] <= max_should_be_stronger
    if not feasible:
        explanation.append(
            f"no rule set on these signals keeps should_be_stronger within "
            f"{max_should_be_stronger:.1%}; this proposal gets closest "
            f"({after['should_be_stronger_share']:.1%})"
        )
    return Fit(
        rules=rules,
        explanation=explanation or ["the labels support the active policy as it is"],
        report={
            "max_should_be_stronger": requested,
            "limit_applied": max_should_be_stronger,
            "feasible": feasible,
            "labelled_decisions": len(set(data.decision_ids)),
            "on_labels_before": before,
            "on_labels_after": after,
        },
    )


def propose(
    *, by: User | None, max_should_be_stronger: float = DEFAULT_MAX_STRONGER
) -> PolicyVersion:
    """Fit on the labels and store the proposal as a draft whose parent is the active policy."""
    parent = policy.active()
    fitted = fit(parent=parent, max_should_be_stronger=max_should_be_stronger)
    return policy.create_version(
        rules=fitted.rules,
        created_by=by,
        origin=PolicyVersion.Origin.FITTED,
        parent=parent,
        explanation=fitted.explanation,
        fit_report=fitted.report,
    )


def _base_rules(parent: PolicyVersion | None, names: list[str]) -> dict[str, Any]:
    if parent is not None:
        return dict(parent.rules)
    spacing = [round((i + 1) / len(names), 3) for i in range(len(names) - 1)]
    return {"tiers": names, "score_boundaries": spacing, "default_tier": names[len(names) // 2]}


def _prune_keywords(
    keyword_rules: list[dict[str, Any]], data: Labelled, explanation: list[str]
) -> list[dict[str, Any]]:
    kept = []
    position = {name: i for i, name in enumerate(data.tier_names)}
    for rule in keyword_rules:
        words = [w.strip().lower() for w in rule["keywords"]]
        match = np.array([any(w in p.lower() for w in words) for p in data.prompt], dtype=bool)
        matched = float(data.weight[match].sum())
        tier = position[rule["tier"]]
        cheaper = float(data.weight[match & (data.right < tier)].sum())
        if matched >= 3 and cheaper / matched >= 0.5:
            explanation.append(
                f"drop the keyword rule {', '.join(repr(w) for w in rule['keywords'])} → "
                f"{rule['tier']}: {cheaper:.0f} of {matched:.0f} labelled queries containing it "
                f"needed a cheaper tier"
            )
        else:
            kept.append(rule)
    return kept


@dataclass(frozen=True)
class Search:
    boundaries: list[float]
    cost: float
    stronger: float
    within: bool


def _search_boundaries(
    rules: dict[str, Any], data: Labelled, max_stronger: float, *, grid: np.ndarray = GRID
) -> Search:
    """The cheapest ascending boundaries on the grid within the limit (or, if none is, the one
    with the fewest under-served requests). Ties go to higher boundaries: cheaper tiers."""
    top = len(data.tier_names) - 1
    compiled = policy.compile_rules({**rules, "score_boundaries": [0.0] * top}, data.tier_names)
    rows = np.arange(len(data.right))
    scored = ~np.isnan(data.score)
    # Everything that does not depend on the boundaries, once: keyword tiers, floors and caps.
    keyword = [compiled.keyword_tier(p) if p else None for p in data.prompt]
    forced = np.array([k is not None for k in keyword], dtype=bool)
    forced_tier = np.array([k if k is not None else 0 for k in keyword], dtype=int)
    floor = np.array(
        [
            compiled.clamp(0, category=c, prompt=p)
            for c, p in zip(data.category, data.prompt, strict=True)
        ],
        dtype=int,
    )
    cap = np.array(
        [
            compiled.clamp(top, category=c, prompt=p)
            for c, p in zip(data.category, data.prompt, strict=True)
        ],
        dtype=int,
    )
    above = np.array([data.score >= b for b in grid])  # [grid point, row]
    total = data.total or 1.0
    best: tuple[float, float, float, tuple[int, ...]] | None = None
    fallback: tuple[float, float, float, tuple[int, ...]] | None = None
    for combo in combinations_with_replacement(range(len(grid)), top):
        base = np.where(scored, above[list(combo)].sum(axis=0), compiled.default)
        tiers = np.where(forced, forced_tier, base)
        tiers = np.maximum(np.minimum(tiers, cap), floor)
        stronger = float(data.weight[tiers < data.right].sum()) / total
        cost = float((data.cost[rows, tiers] * data.weight).sum())
        if stronger <= max_stronger + 1e-12:
            key = (cost, stronger, -float(sum(combo)), combo)
            if best is None or key < best:
                best = key
        key = (stronger, cost, -float(sum(combo)), combo)
        if fallback is None or key < fallback:
            fallback = key
    if best is not None:
        cost, stronger, _, combo = best
        within = True
    else:
        assert fallback is not None  # noqa: S101 (the grid is never empty)
        stronger, cost, _, combo = fallback
        within = False
    return Search([float(grid[i]) for i in combo], cost, stronger, within)


def _category_candidates(
    rules: dict[str, Any], data: Labelled, max_stronger: float
) -> list[tuple[str, dict[str, str], str]]:
    """Category rules worth trying, with the sentence that explains each: a floor where the
    boundaries under-serve a category, a cap where a category never needed more."""
    tiers = picks(rules, data)
    names = data.tier_names
    top = len(names) - 1
    categories = np.array(data.category, dtype=object)
    found: list[tuple[float, str, dict[str, str], str]] = []
    for category in sorted(set(data.category) - {""}):
        member = categories == category
        support = float(data.weight[member].sum())
        if support < MIN_CATEGORY_SUPPORT:
            continue
        weak = float(data.weight[member & (tiers < data.right)].sum()) / support
        floors: Iterator[int]
        if weak > max_stronger:
            # The lowest floor that brings the category within the limit under these boundaries.
            floors = (
                t
                for t in range(1, top + 1)
                if float(data.weight[member & (np.maximum(tiers, t) < data.right)].sum()) / support
                <= max_stronger
            )
        else:
            # The highest tier that all but the limit's share of the category needs: a floor
            # that lets the boundaries rise for everything else.
            floors = iter(
                sorted(
                    (
                        t
                        for t in range(1, top + 1)
                        if float(data.weight[member & (data.right < t)].sum()) / support
                        <= max_stronger
                    ),
                    reverse=True,
                )
            )
        floor = next(floors, 0)
        if floor:
            below = member & (tiers < floor)
            needing = float(data.weight[below & (data.right > tiers)].sum())
            reason = (
                f"move {category!r} to at least {names[floor]!r}: {needing:.0f} of "
                f"{float(data.weight[below].sum()):.0f} labelled {category} queries "
                f"routed below {names[floor]} were labelled should_be_stronger"
                if weak > max_stronger
                else f"move {category!r} to at least {names[floor]!r}: "
                f"{float(data.weight[member & (data.right >= floor)].sum()):.0f} of "
                f"{support:.0f} labelled {category} queries needed {names[floor]} or more"
            )
            found.append((weak, category, {"min_tier": names[floor]}, reason))
            if weak > max_stronger:
                continue
        for cap in range(top):
            needs_more = float(data.weight[member & (data.right > cap)].sum())
            if needs_more / support <= max_stronger / 2 and bool((member & (tiers > cap)).any()):
                reason = (
                    f"cap {category!r} at {names[cap]!r}: {needs_more:.0f} of {support:.0f} "
                    f"labelled {category} queries needed more than {names[cap]}"
                )
                found.append((weak, category, {"max_tier": names[cap]}, reason))
                break
    # The worst-served categories first: their floors free the most of the limit.
    found.sort(key=lambda entry: -entry[0])
    return [(category, rule, reason) for _, category, rule, reason in found]


def _explain_boundaries(base: dict[str, Any], rules: dict[str, Any], data: Labelled) -> list[str]:
    names = data.tier_names
    if base.get("tiers") != names or len(base.get("score_boundaries", [])) != len(names) - 1:
        return [
            "score ladder over every tier: "
            + ", ".join(
                f"{names[i]}→{names[i + 1]} at {b:.3f}"
                for i, b in enumerate(rules["score_boundaries"])
            )
        ]
    said = []
    for i, (old, new) in enumerate(
        zip(base["score_boundaries"], rules["score_boundaries"], strict=True)
    ):
        if abs(old - new) < 1e-9:
            continue
        low, high = sorted((old, new))
        between = (data.score >= low) & (data.score < high)
        lower_ok = float(data.weight[between & (data.right <= i)].sum())
        count = float(data.weight[between].sum())
        verb = "raise" if new > old else "lower"
        said.append(
            f"{verb} the {names[i]}→{names[i + 1]} boundary from {old:.3f} to {new:.3f}: of "
            f"{count:.0f} labelled queries scored between them, {lower_ok:.0f} needed no more "
            f"than {names[i]}"
        )
    return said
