"""Misroute detection: a difficulty for every decision, and flags with reasons and dollars.

Difficulty mixes the prompt's text markers (``review.features``), the router's category and
the router's own score when logged. The tier boundaries turn difficulty into the tier the
decision needed. Two rules then raise flags:

* ``overkill``: a tier above the needed one served the call, and nothing says it failed;
* ``underpowered``: a call on a tier below the top failed in a way that can mean the model was
  not up to it (not a rate limit, timeout or provider 5xx), and the prompt looks hard enough
  for the next tier up.

Every decision gets both scores, flagged or not, so rankings can be evaluated. Flags name the
detector version (the settings revision), and re-running a version replaces its own output.
"""

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from review import rollups, similarity
from review.features import PromptFeatures, prompt_features, text_difficulty
from review.learning import LearnedScorer
from review.models import (
    Assessment,
    CatalogModel,
    Decision,
    DetectorSettings,
    Flag,
    FlagKind,
    Tier,
)

# What a category, as routers commonly name them, says about difficulty before the text does.
CATEGORY_PRIOR = {
    "greeting": 0.03,
    "chitchat": 0.05,
    "faq": 0.1,
    "lookup": 0.15,
    "classification": 0.2,
    "extraction": 0.25,
    "rewrite": 0.25,
    "translation": 0.3,
    "summary": 0.4,
    "summarization": 0.4,
    "code": 0.6,
    "coding": 0.6,
    "math": 0.6,
    "analysis": 0.75,
    "reasoning": 0.8,
    "planning": 0.8,
}
CATEGORY_WEIGHT = 0.3
# How much each failure signal says the model fell short, before the prompt's difficulty.
SIGNAL_STRENGTH = {
    "fallback": 0.95,
    "error": 0.85,
    "escalated": 0.8,
    "negative": 0.75,
    "retried": 0.65,
}
MAX_DOLLARS = Decimal("999999")  # the column's range; a logged cost near it plus a retry
COLUMNS = (
    "pk",
    "gateway_id",
    "prompt_text",
    "router_score",
    "router_category",
    "served_tier_id",
    "served_model_name",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "status",
    "error_type",
    "error_message",
    "user_feedback",
    "judge_score",
    "retried",
    "escalated",
    "trace_id",
)


@dataclass(frozen=True)
class TierPrice:
    tier: Tier
    floor: float  # the difficulty from which this tier is needed
    reference: CatalogModel | None  # the tier's cheapest priced model

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal | None:
        if self.reference is None:
            return None
        return self.reference.cost_of(input_tokens=input_tokens, output_tokens=output_tokens)


@dataclass
class Detector:
    settings: DetectorSettings
    tiers: list[TierPrice]
    by_tier_id: dict[int | None, int] = field(default_factory=dict)  # tier id → position
    learned: LearnedScorer | None = None

    @classmethod
    def current(cls, *, learned: bool = True) -> "Detector":
        """The detector as configured now; with the adopted learned model unless told not to."""
        settings = DetectorSettings.current()
        tiers = list(Tier.objects.order_by("rank"))
        boundaries = list(settings.tier_boundaries)
        if len(boundaries) != len(tiers) - 1:  # unset, or the tiers changed since: even spacing
            boundaries = [(i + 1) / len(tiers) for i in range(len(tiers) - 1)]
        cheapest: dict[int | None, CatalogModel] = {}
        priced = CatalogModel.objects.filter(
            tier__isnull=False,
            input_price_per_mtok__isnull=False,
            output_price_per_mtok__isnull=False,
        )
        for model in sorted(priced, key=_list_price):
            cheapest.setdefault(model.tier_id, model)
        prices = [
            TierPrice(tier=tier, floor=([0.0, *boundaries])[i], reference=cheapest.get(tier.pk))
            for i, tier in enumerate(tiers)
        ]
        scorer = LearnedScorer.active() if learned else None
        return cls(settings, prices, {p.tier.pk: i for i, p in enumerate(prices)}, scorer)

    @property
    def version(self) -> str:
        if self.learned is not None:
            return f"learned-v{self.learned.model.version}-r{self.settings.revision}"
        return f"heuristic-r{self.settings.revision}"

    def needed(self, difficulty: float) -> int:
        return max((i for i, tier in enumerate(self.tiers) if difficulty >= tier.floor), default=0)


def _list_price(model: CatalogModel) -> Decimal:
    return (model.input_price_per_mtok or Decimal(0)) + (model.output_price_per_mtok or Decimal(0))


@dataclass
class Outcome:
    assessment: Assessment
    flags: list[Flag]


def difficulty_of(row: dict[str, Any], features: PromptFeatures, detector: Detector) -> float:
    difficulty = text_difficulty(features)
    prior = CATEGORY_PRIOR.get((row["router_category"] or "").lower())
    if prior is not None:
        difficulty = (1 - CATEGORY_WEIGHT) * difficulty + CATEGORY_WEIGHT * prior
    score = row["router_score"]
    if score is not None:
        weight = detector.settings.router_weight
        difficulty = (1 - weight) * difficulty + weight * min(1.0, max(0.0, score))
    return round(min(1.0, max(0.0, difficulty)), 4)


def failure_signals(
    row: dict[str, Any], detector: Detector, fell_back_to: str | None
) -> dict[str, str]:
    """Signals that the served model fell short, by kind, each described in words."""
    signals: dict[str, str] = {}
    if fell_back_to:
        signals["fallback"] = f"the gateway fell back to {fell_back_to}"
    if (
        row["status"] == Decision.Status.ERROR
        and row["error_type"] not in Decision.INFRASTRUCTURE_ERRORS
    ):
        detail = f" ({row['error_message'][:80]})" if row["error_message"] else ""
        signals["error"] = f"it failed with {row['error_type'] or 'an error'}{detail}"
    if row["escalated"]:
        signals["escalated"] = "the conversation was escalated"
    if row["user_feedback"] == -1:
        signals["negative"] = "the user gave a thumbs-down"
    if row["retried"]:
        signals["retried"] = "the user retried"
    judge = row["judge_score"]
    if judge is not None and judge < detector.settings.low_judge_score:
        signals["judge"] = (
            f"the judge scored it {judge:.2f} (below {detector.settings.low_judge_score:.2f})"
        )
    return signals


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def target_position(detector: Detector, target: TierPrice) -> int:
    return detector.tiers.index(target)


def _learned_reason(detector: Detector, learned: dict[str, float], kind: str) -> str:
    if kind not in learned or detector.learned is None:
        return ""
    model = detector.learned.model
    return (
        f"the model learned from {model.labels_used} reviewer labels (v{model.version}) puts "
        f"the chance at {learned[kind]:.2f}"
    )


def assess(
    row: dict[str, Any],
    detector: Detector,
    fell_back_to: str | None,
    learned: dict[str, float] | None = None,
) -> Outcome:
    features = prompt_features(row["prompt_text"] or "")
    difficulty = difficulty_of(row, features, detector)
    needed = detector.needed(difficulty)
    served = detector.by_tier_id.get(row["served_tier_id"])
    signals = failure_signals(row, detector, fell_back_to)
    infrastructure = (
        row["status"] == Decision.Status.ERROR
        and row["error_type"] in Decision.INFRASTRUCTURE_ERRORS
    )
    version = detector.version
    assessment = Assessment(
        decision_id=row["pk"],
        difficulty=difficulty,
        needed_tier=detector.tiers[needed].tier if detector.tiers else None,
        features=features.as_dict(),
        detector_version=version,
        assessed_at=timezone.now(),
    )
    flags: list[Flag] = []
    if served is None:  # an unclassified model: nothing to compare with
        return Outcome(assessment, flags)
    served_tier = detector.tiers[served]
    tokens_in, tokens_out = row["input_tokens"] or 0, row["output_tokens"] or 0
    cost = row["cost_usd"] if row["cost_usd"] is not None else Decimal(0)

    learned = learned or {}
    if not signals and not infrastructure and served > 0:
        # How far below the floor of the tier that served it the prompt sits.
        heuristic = _sigmoid(12 * (served_tier.floor - difficulty))
        score = learned.get(FlagKind.OVERKILL, heuristic)
        assessment.overkill_score = round(score, 4)
        # A call that cost nothing (a cache hit, a free model) wasted nothing to review.
        free = row["cost_usd"] is not None and row["cost_usd"] == 0
        rule_holds = not free and (served > needed or FlagKind.OVERKILL in learned)
        if rule_holds and score >= detector.settings.min_confidence:
            target = detector.tiers[min(needed, served - 1)]
            cheaper = target.cost(tokens_in, tokens_out)
            dollars = max(Decimal(0), cost - cheaper) if cheaper is not None else Decimal(0)
            reasons = [
                f"{row['served_model_name']} ({served_tier.tier.name}) served a "
                f"{features.tokens}-token {_described(row, features)} of estimated difficulty "
                f"{difficulty:.2f}; the {target.tier.name} tier covers up to "
                f"{detector.tiers[target_position(detector, target) + 1].floor:.2f}",
                "no failure signal: " + _success_evidence(row),
                _dollars_reason(dollars, target, "less on the"),
                _learned_reason(detector, learned, FlagKind.OVERKILL),
                _markers(features, row),
            ]
            flags.append(
                _flag(row, FlagKind.OVERKILL, assessment.overkill_score, dollars, reasons, version)
            )

    # A rate limit, timeout or provider 5xx says nothing about the tier, even when the gateway
    # then fell back to a stronger model.
    if signals and not infrastructure and served < len(detector.tiers) - 1:
        stronger = detector.tiers[served + 1]
        strength = max(
            SIGNAL_STRENGTH.get(
                kind, 0.55 + (detector.settings.low_judge_score - (row["judge_score"] or 0))
            )
            for kind in signals
        )
        hardness = _sigmoid(10 * (difficulty - stronger.floor + 0.1))
        score = learned.get(FlagKind.UNDERPOWERED, min(1.0, strength) * hardness)
        assessment.underpowered_score = round(score, 4)
        if assessment.underpowered_score >= detector.settings.min_confidence:
            target = detector.tiers[max(needed, served + 1)]
            retry = target.cost(tokens_in, tokens_out) or Decimal(0)
            dollars = cost + retry
            reasons = [
                f"{row['served_model_name']} ({served_tier.tier.name}) fell short: "
                + "; ".join(signals.values()),
                f"estimated difficulty {difficulty:.2f} against the {stronger.tier.name} tier's "
                f"floor of {stronger.floor:.2f}: a {_described(row, features)} of "
                f"{features.tokens} tokens",
                f"est. ${dollars:.4f} at stake: the failed call plus a retry on the "
                f"{target.tier.name} tier"
                + (f"'s {target.reference.name}" if target.reference else ""),
                _learned_reason(detector, learned, FlagKind.UNDERPOWERED),
                _markers(features, row),
            ]
            flags.append(
                _flag(
                    row,
                    FlagKind.UNDERPOWERED,
                    assessment.underpowered_score,
                    dollars,
                    reasons,
                    version,
                )
            )
    return Outcome(assessment, flags)


def _flag(
    row: dict[str, Any],
    kind: str,
    confidence: float,
    dollars: Decimal,
    reasons: list[str],
    version: str,
) -> Flag:
    return Flag(
        decision_id=row["pk"],
        kind=kind,
        confidence=confidence,
        dollars=min(dollars, MAX_DOLLARS).quantize(Decimal("0.00000001")),
        reasons=[reason for reason in reasons if reason],
        detector_version=version,
    )


def _described(row: dict[str, Any], features: PromptFeatures) -> str:
    category = row["router_category"]
    return f"{category} prompt" if category else "prompt"


def _success_evidence(row: dict[str, Any]) -> str:
    evidence = ["it succeeded"]
    if row["user_feedback"] == 1:
        evidence.append("the user gave a thumbs-up")
    if row["judge_score"] is not None:
        evidence.append(f"the judge scored it {row['judge_score']:.2f}")
    return ", ".join(evidence)


def _dollars_reason(dollars: Decimal, target: TierPrice, phrase: str) -> str:
    where = (
        f"{target.tier.name} tier's {target.reference.name}"
        if target.reference
        else f"{target.tier.name} tier"
    )
    return f"est. ${dollars:.4f} {phrase} {where} at list prices"


def _markers(features: PromptFeatures, row: dict[str, Any]) -> str:
    counted = [
        f"{count} {name}"
        for name, count in (
            ("code", features.code),
            ("math", features.math),
            ("reasoning", features.reasoning),
            ("multi-step", features.multi_step),
            ("constraint", features.constraints),
            ("simple-request", features.simple),
        )
        if count
    ]
    parts = [
        f"text markers: {', '.join(counted)}" if counted else "no difficulty markers in the text"
    ]
    if row["router_score"] is not None:
        parts.append(f"router score {row['router_score']:.2f}")
    return "; ".join(parts)


def detect(*, decision_ids: Iterable[int], detector: Detector | None = None) -> list[Outcome]:
    """Assess the decisions and store their assessments and flags, replacing what the same
    detector version said before."""
    detector = detector or Detector.current()
    rows = list(Decision.objects.filter(pk__in=list(decision_ids)).values(*COLUMNS))
    fallbacks = _stronger_fallbacks(rows, detector)
    learned: dict[str, list[float]] = {}
    if detector.learned is not None:
        positions = [detector.by_tier_id.get(row["served_tier_id"], -1) for row in rows]
        learned = detector.learned.scores(rows, positions)
    outcomes = [
        assess(
            row,
            detector,
            fallbacks.get(row["pk"]),
            {kind: scores[index] for kind, scores in learned.items()},
        )
        for index, row in enumerate(rows)
    ]
    _add_similar_evidence(rows, outcomes, detector)
    ids = [row["pk"] for row in rows]
    with transaction.atomic():
        Assessment.objects.bulk_create(
            [o.assessment for o in outcomes],
            update_conflicts=True,
            unique_fields=["decision"],
            update_fields=[
                "difficulty",
                "needed_tier",
                "features",
                "overkill_score",
                "underpowered_score",
                "detector_version",
                "assessed_at",
            ],
            batch_size=1000,
        )
        # A re-run supersedes its own version's flags: updated in place (they keep their
        # created_at, and so their week), and gone where no longer raised: a late thumbs-down
        # can undo an overkill.
        raised = [f for o in outcomes for f in o.flags]
        Flag.objects.bulk_create(
            raised,
            update_conflicts=True,
            unique_fields=["decision", "kind", "detector_version"],
            update_fields=["confidence", "dollars", "reasons"],
            batch_size=1000,
        )
        still_raised = {(f.decision_id, f.kind) for f in raised}
        withdrawn = [
            pk
            for pk, decision_id, kind in Flag.objects.filter(
                decision_id__in=ids, detector_version=detector.version
            ).values_list("pk", "decision_id", "kind")
            if (decision_id, kind) not in still_raised
        ]
        Flag.objects.filter(pk__in=withdrawn).delete()
        # The dashboard's rollups of these days are rebuilt once this commits.
        rollups.note_changes(decision_ids=ids)
    return outcomes


def _stronger_fallbacks(rows: list[dict[str, Any]], detector: Detector) -> dict[int, str]:
    """For each decision, the stronger model the gateway fell back to after it, if any."""
    traced = [row for row in rows if row["trace_id"]]
    if not traced:
        return {}
    later: dict[tuple[int, str], list[tuple[str, int | None, list[str]]]] = defaultdict(list)
    for gateway_id, trace_id, model, tier_id, chain in (
        Decision.objects.filter(
            gateway_id__in={row["gateway_id"] for row in traced},
            trace_id__in={row["trace_id"] for row in traced},
        )
        .exclude(trace_id="")  # lets PostgreSQL use the partial trace index
        .exclude(fallback_chain=[])
        .order_by()
        .values_list(
            "gateway_id", "trace_id", "served_model_name", "served_tier_id", "fallback_chain"
        )
    ):
        later[(gateway_id, trace_id)].append((model, tier_id, chain))
    found = {}
    for row in traced:
        served: int = detector.by_tier_id.get(row["served_tier_id"], -1)
        for model, later_tier, chain in later[(row["gateway_id"], row["trace_id"])]:
            rank = detector.by_tier_id.get(later_tier, -1)
            if row["served_model_name"] in chain and rank > served:
                found[row["pk"]] = f"{model} ({detector.tiers[rank].tier.name})"
    return found


def _add_similar_evidence(
    rows: list[dict[str, Any]], outcomes: list[Outcome], detector: Detector
) -> None:
    """Add to each flag what similar recent prompts show: how they were served, whether they
    failed, how reviewers labelled them."""
    flagged = {
        row["pk"]: row
        for row, outcome in zip(rows, outcomes, strict=True)
        if outcome.flags and row["prompt_text"]
    }
    if not flagged:
        return
    found = similarity.similar_for(
        {pk: row["prompt_text"] for pk, row in flagged.items()},
        gateway_ids={row["gateway_id"] for row in flagged.values()},
    )
    for outcome in outcomes:
        neighbours = found.get(outcome.assessment.decision_id) or []
        if len(neighbours) < 2:
            continue
        row = flagged[outcome.assessment.decision_id]
        served = detector.by_tier_id.get(row["served_tier_id"], -1)
        for flag in outcome.flags:
            flag.reasons.insert(-1, _similar_reason(flag.kind, neighbours, served, detector))


def _similar_reason(
    kind: str, neighbours: list[similarity.Similar], served: int, detector: Detector
) -> str:
    count = len(neighbours)
    if kind == FlagKind.OVERKILL:
        cheaper = sum(
            1
            for n in neighbours
            if detector.by_tier_id.get(n.served_tier_id, served) < served and not n.failed
        )
        labelled = sum("should_be_cheaper" in n.verdicts for n in neighbours)
        reason = (
            f"{cheaper} of the {count} most similar recent prompts were served by a cheaper "
            f"tier without a failure"
        )
        return reason + (f"; {labelled} were labelled should_be_cheaper" if labelled else "")
    same_or_cheaper = [
        n for n in neighbours if detector.by_tier_id.get(n.served_tier_id, 99) <= served
    ]
    failed = sum(n.failed for n in same_or_cheaper)
    labelled = sum("should_be_stronger" in n.verdicts for n in neighbours)
    reason = (
        f"{failed} of the {len(same_or_cheaper)} most similar recent prompts served on this tier "
        f"or a cheaper one failed too"
    )
    return reason + (f"; {labelled} were labelled should_be_stronger" if labelled else "")
