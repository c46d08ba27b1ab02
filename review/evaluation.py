"""How good detection is, against decisions whose truth is known.

Truth comes from the demo week's ground truth (the tier each decision needed) and from reviewer
labels (``should_be_cheaper`` / ``should_be_stronger`` / ``correct``). For each flag kind the
detector is compared with two baselines on the same decisions: the prompt's length alone, and
LiteLLM's complexity router, called from the installed ``litellm`` package.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sklearn.metrics import roc_auc_score

from review.detection import Detector
from review.features import prompt_features
from review.learning import held_out
from review.models import Assessment, DemoTruth, Flag, FlagKind, Label, Verdict

LITELLM_TIERS = {"SIMPLE": 0, "MEDIUM": 1, "COMPLEX": 2, "REASONING": 3}


@dataclass
class Scores:
    """One detector's figures for one flag kind."""

    name: str
    precision: float | None
    recall: float | None
    roc_auc: float | None
    precision_at_detector_recall: float | None = None


@dataclass
class KindReport:
    kind: str
    positives: int
    decisions: int
    detector: Scores
    baselines: list[Scores]


@dataclass
class Case:
    decision_id: int
    prompt: str
    served_rank: int
    overkill: bool
    underpowered: bool
    scores: dict[str, float]
    flagged: set[str]


def known_cases(detector: Detector) -> list[Case]:
    """Assessed decisions with a known truth; reviewer labels win over the demo's truth."""
    truth: dict[int, tuple[bool, bool]] = {}
    positions = {position.tier.pk: rank for rank, position in enumerate(detector.tiers)}
    for decision_id, served_tier_id, ideal_tier_id in DemoTruth.objects.filter(
        decision__served_tier__isnull=False
    ).values_list("decision_id", "decision__served_tier_id", "ideal_tier_id"):
        served, ideal = positions[served_tier_id], positions[ideal_tier_id]
        truth[decision_id] = (served > ideal, served < ideal)
    for decision_id, verdict in Label.objects.values_list("decision_id", "verdict"):
        if verdict in (Verdict.CORRECT, Verdict.SHOULD_BE_CHEAPER, Verdict.SHOULD_BE_STRONGER):
            truth[decision_id] = (
                verdict == Verdict.SHOULD_BE_CHEAPER,
                verdict == Verdict.SHOULD_BE_STRONGER,
            )
    if detector.learned is not None:
        # A learned model has seen the labels outside the held-out fifth: judge it on the rest.
        trained_on = [
            pk
            for pk, event_id in Label.objects.values_list("decision_id", "decision__event_id")
            if not held_out(event_id)
        ]
        for pk in trained_on:
            truth.pop(pk, None)
    flagged: dict[int, set[str]] = {}
    for decision_id, kind in Flag.objects.filter(
        detector_version=detector.version, decision_id__in=truth
    ).values_list("decision_id", "kind"):
        flagged.setdefault(decision_id, set()).add(kind)
    cases = []
    for row in Assessment.objects.filter(
        decision_id__in=truth, decision__served_tier__isnull=False
    ).values(
        "decision_id",
        "overkill_score",
        "underpowered_score",
        "decision__prompt_text",
        "decision__served_tier_id",
    ):
        overkill, underpowered = truth[row["decision_id"]]
        cases.append(
            Case(
                decision_id=row["decision_id"],
                prompt=row["decision__prompt_text"],
                served_rank=positions[row["decision__served_tier_id"]],
                overkill=overkill,
                underpowered=underpowered,
                scores={
                    FlagKind.OVERKILL: row["overkill_score"],
                    FlagKind.UNDERPOWERED: row["underpowered_score"],
                },
                flagged=flagged.get(row["decision_id"], set()),
            )
        )
    return cases


def litellm_tier_rank(prompt: str, router: Any) -> int:
    tier, _score, _signals = router.classify(prompt)
    return LITELLM_TIERS.get(str(getattr(tier, "value", tier)), 1)


def evaluate(*, detector: Detector | None = None) -> list[KindReport]:
    detector = detector or Detector.current()
    cases = known_cases(detector)
    if not cases:
        return []
    lengths = {c.decision_id: prompt_features(c.prompt).tokens for c in cases}
    litellm = _litellm_router()
    litellm_ranks = (
        {c.decision_id: litellm_tier_rank(c.prompt, litellm) for c in cases} if litellm else {}
    )
    reports = []
    for kind in (FlagKind.OVERKILL, FlagKind.UNDERPOWERED):
        # Overkill points down from the served tier, underpowered up.
        sign = 1 if kind == FlagKind.OVERKILL else -1
        truth = [c.overkill if kind == FlagKind.OVERKILL else c.underpowered for c in cases]
        ours = _scores(
            "routing review",
            truth,
            [c.scores[kind] for c in cases],
            marks=[kind in c.flagged for c in cases],
        )
        # Shorter prompts on a given served tier are likelier overkill, longer ones underpowered.
        length_scores = [sign * (c.served_rank * 100_000 - lengths[c.decision_id]) for c in cases]
        baselines = [_scores("prompt length", truth, length_scores, match_recall=ours.recall)]
        if litellm_ranks:
            gaps = [sign * (c.served_rank - litellm_ranks[c.decision_id]) for c in cases]
            baselines.append(
                _scores(
                    "litellm complexity router",
                    truth,
                    [float(gap) for gap in gaps],
                    marks=[gap > 0 for gap in gaps],
                    match_recall=ours.recall,
                )
            )
        reports.append(
            KindReport(
                kind=kind,
                positives=sum(truth),
                decisions=len(cases),
                detector=ours,
                baselines=baselines,
            )
        )
    return reports


def _scores(
    name: str,
    truth: list[bool],
    values: Sequence[float],
    *,
    marks: list[bool] | None = None,
    match_recall: float | None = None,
) -> Scores:
    auc = roc_auc_score(truth, values) if 0 < sum(truth) < len(truth) else None
    precision = recall = None
    if marks is not None:
        hits = sum(m and t for m, t in zip(marks, truth, strict=True))
        precision = hits / sum(marks) if any(marks) else None
        recall = hits / sum(truth) if any(truth) else None
    at_recall = _precision_at_recall(truth, values, match_recall) if match_recall else None
    return Scores(
        name=name,
        precision=_round(precision),
        recall=_round(recall),
        roc_auc=_round(auc),
        precision_at_detector_recall=_round(at_recall),
    )


def _precision_at_recall(truth: list[bool], values: Sequence[float], recall: float) -> float | None:
    """Precision of the top-ranked decisions by score, taken until ``recall`` is reached."""
    positives = sum(truth)
    if not positives:
        return None
    ranked = sorted(zip(values, truth, strict=True), key=lambda pair: -pair[0])
    hits = 0
    for taken, (_, is_positive) in enumerate(ranked, start=1):
        hits += is_positive
        if hits / positives >= recall:
            return hits / taken
    return hits / len(ranked)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _litellm_router() -> Any:
    try:
        from litellm.router_strategy.complexity_router.complexity_router import ComplexityRouter
    except ImportError:
        return None
    # Its rule-based scorer is local; the routing context is only used for model calls.
    return ComplexityRouter(model_name="routing-review-baseline", ctx=None)


def as_json(reports: list[KindReport]) -> list[dict[str, Any]]:
    return [asdict(report) for report in reports]
