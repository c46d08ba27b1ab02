"""A misroute model learned from reviewer labels.

Inputs are every field of the record that a reviewer would look at: the prompt's words (hashed
word and bigram counts, nothing downloaded), the text markers, the router's score, category and
the served tier, and the outcome signals. One logistic regression per flag kind, trained on the
labelled decisions outside a stable held-out fifth (by event id) and compared on that fifth with
the heuristic. A kind uses the model only if it ranked the held-out labels better.
"""

import hashlib
import math
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from review.features import prompt_features
from review.hashed_text import vectorizer
from review.models import Decision, DetectorModel, DetectorSettings, FlagKind, Label, Verdict

if TYPE_CHECKING:  # scikit-learn and SciPy load where a model is trained or used (hashed_text)
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

HELD_OUT_BUCKETS = 5  # one fifth held out
MIN_HELD_OUT_POSITIVES = 5
TEXT_FEATURES = 2**16
EXTRA_COLUMNS = ("event_id",)


def held_out(event_id: str) -> bool:
    """Stable across runs and machines: the same decisions are always held out."""
    return hashlib.sha256(event_id.encode()).digest()[0] % HELD_OUT_BUCKETS == 0


def vectorize(rows: list[dict[str, Any]], served_positions: list[int]) -> "sparse.csr_matrix":
    from scipy import sparse

    texts = [
        f"{row['prompt_text'] or ''} category_{(row['router_category'] or 'none').lower()}"
        for row in rows
    ]
    numeric = np.array(
        [_numeric(row, position) for row, position in zip(rows, served_positions, strict=True)],
        dtype=float,
    )
    text = vectorizer(TEXT_FEATURES).transform(texts)
    return sparse.hstack([text, sparse.csr_matrix(numeric)]).tocsr()


def _numeric(row: dict[str, Any], served_position: int) -> list[float]:
    features = prompt_features(row["prompt_text"] or "")
    infrastructure = row["error_type"] in Decision.INFRASTRUCTURE_ERRORS
    failed = row["status"] == Decision.Status.ERROR
    score = row["router_score"]
    judge = row["judge_score"]
    tiers = [1.0 if served_position == i else 0.0 for i in range(6)]
    return [
        math.log1p(features.tokens) / 8,
        min(features.code, 5) / 5,
        min(features.math, 5) / 5,
        min(features.reasoning, 5) / 5,
        min(features.multi_step, 5) / 5,
        min(features.constraints, 5) / 5,
        min(features.simple, 3) / 3,
        0.0 if score is None else min(1.0, max(-1.0, score)),
        1.0 if score is None else 0.0,
        *tiers,
        1.0 if failed and not infrastructure else 0.0,
        1.0 if failed and infrastructure else 0.0,
        1.0 if row["user_feedback"] == -1 else 0.0,
        1.0 if row["user_feedback"] == 1 else 0.0,
        0.0 if judge is None else judge,
        1.0 if judge is None else 0.0,
        1.0 if row["retried"] else 0.0,
        1.0 if row["escalated"] else 0.0,
        math.log1p(float(row["cost_usd"] or 0) * 1000) / 5,
    ]


@dataclass
class TrainingResult:
    model: DetectorModel | None
    message: str


def train(*, minimum_labels: int | None = None) -> TrainingResult:
    """Train, compare with the heuristic on held-out labels, and store a new version."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from review import detection  # detection uses this module to score

    settings = DetectorSettings.current()
    minimum = settings.min_labels_to_train if minimum_labels is None else minimum_labels
    verdicts = _verdicts()
    if len(verdicts) < minimum:
        return TrainingResult(
            None, f"Not trained: {len(verdicts)} labelled decisions, {minimum} needed."
        )
    detector = detection.Detector.current(learned=False)
    rows = list(Decision.objects.filter(pk__in=verdicts).values(*detection.COLUMNS, *EXTRA_COLUMNS))
    positions = [detector.by_tier_id.get(row["served_tier_id"], -1) for row in rows]
    matrix = vectorize(rows, positions)
    fallbacks = detection._stronger_fallbacks(rows, detector)
    heuristic = [detection.assess(row, detector, fallbacks.get(row["pk"])) for row in rows]
    test = np.array([held_out(row["event_id"]) for row in rows])
    estimators: dict[str, LogisticRegression] = {}
    metrics: dict[str, Any] = {}
    adopted: list[str] = []
    for kind, wanted in (
        (FlagKind.OVERKILL, Verdict.SHOULD_BE_CHEAPER),
        (FlagKind.UNDERPOWERED, Verdict.SHOULD_BE_STRONGER),
    ):
        y = np.array([verdicts[row["pk"]] == wanted for row in rows])
        train_y, test_y = y[~test], y[test]
        if len(set(train_y)) < 2 or test_y.sum() < MIN_HELD_OUT_POSITIVES or test_y.all():
            metrics[kind] = {
                "held_out": int(test.sum()),
                "positives": int(test_y.sum()),
                "note": "too few labels of this kind",
            }
            continue
        estimator = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
        estimator.fit(matrix[~test], train_y)
        model_auc = roc_auc_score(test_y, estimator.predict_proba(matrix[test])[:, 1])
        scores = [getattr(o.assessment, f"{kind}_score") for o in heuristic]
        heuristic_auc = roc_auc_score(test_y, np.array(scores)[test])
        metrics[kind] = {
            "held_out": int(test.sum()),
            "positives": int(test_y.sum()),
            "model_auc": round(float(model_auc), 3),
            "heuristic_auc": round(float(heuristic_auc), 3),
        }
        if model_auc > heuristic_auc:
            estimators[kind] = estimator
            adopted.append(kind)
    version = (
        DetectorModel.objects.order_by("-version").values_list("version", flat=True).first() or 0
    ) + 1
    reason = "; ".join(
        f"{kind}: "
        + (
            f"model AUC {m['model_auc']:.3f} vs heuristic {m['heuristic_auc']:.3f} on "
            f"{m['held_out']} held-out labels → {'adopted' if kind in adopted else 'refused'}"
            if "model_auc" in m
            else m["note"]
        )
        for kind, m in metrics.items()
    )
    model = DetectorModel.objects.create(
        version=version,
        labels_used=len(rows),
        metrics=metrics,
        adopted_kinds=adopted,
        reason=reason,
        blob=pickle.dumps(estimators),
    )
    return TrainingResult(model, f"Learned model v{version}: {reason}.")


def _verdicts() -> dict[int, str]:
    """Each labelled decision's verdict; where reviewers disagree, the most frequent one."""
    counts: dict[int, dict[str, int]] = {}
    for decision_id, verdict in Label.objects.filter(
        verdict__in=[Verdict.CORRECT, Verdict.SHOULD_BE_CHEAPER, Verdict.SHOULD_BE_STRONGER]
    ).values_list("decision_id", "verdict"):
        counts.setdefault(decision_id, {}).setdefault(verdict, 0)
        counts[decision_id][verdict] += 1
    return {pk: max(c, key=lambda v: c[v]) for pk, c in counts.items()}


@dataclass
class LearnedScorer:
    model: DetectorModel
    estimators: "dict[str, LogisticRegression]"

    @classmethod
    def active(cls) -> "LearnedScorer | None":
        # Only the newest model counts: if it was refused, an older one was not re-checked
        # on the newer labels either, and the heuristic takes over.
        model = DetectorModel.objects.order_by("-version").first()
        if model is None or not model.adopted_kinds:
            return None
        estimators = pickle.loads(bytes(model.blob))  # noqa: S301 (written by train() above)
        return cls(model, estimators)

    def scores(self, rows: list[dict[str, Any]], positions: list[int]) -> dict[str, list[float]]:
        if not rows:
            return {}
        matrix = vectorize(rows, positions)
        return {
            kind: [float(p) for p in estimator.predict_proba(matrix)[:, 1]]
            for kind, estimator in self.estimators.items()
        }
