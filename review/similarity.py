"""Similar past decisions, by the words of their prompts: hashed word and bigram vectors compared
by cosine similarity, in-process (no external service, nothing downloaded).

Used as evidence: on the case page for one decision, and in flag reasons for a batch (the
candidates are vectorised once per batch).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from review.hashed_text import vectorizer
from review.models import Decision, Label

N_FEATURES = 2**18
POOL = 3000  # recent decisions searched: recent traffic is what the router sees now
COMPARED_CHARACTERS = 4000  # the start of a prompt says what it is; pasted context is noise
MIN_SIMILARITY = 0.3


@dataclass(frozen=True)
class Similar:
    decision_id: int
    similarity: float
    served_tier_id: int | None
    served_model_name: str
    failed: bool
    verdicts: tuple[str, ...]


def similar_for(
    prompts: dict[int, str], *, gateway_ids: set[int], limit: int = 5
) -> dict[int, list[Similar]]:
    """For each decision id → prompt, the most similar other recent decisions of the same
    gateways, most similar first."""
    if not prompts:
        return {}
    pool = list(
        Decision.objects.filter(gateway_id__in=gateway_ids)
        .exclude(prompt_text="")
        .order_by("-occurred_at")
        .values(
            "pk",
            "prompt_text",
            "served_tier_id",
            "served_model_name",
            "status",
            "error_type",
            "user_feedback",
            "judge_score",
            "retried",
            "escalated",
        )[:POOL]
    )
    if not pool:
        return {pk: [] for pk in prompts}
    verdicts: dict[int, list[str]] = {}
    for decision_id, verdict in Label.objects.filter(
        decision_id__in=[row["pk"] for row in pool]
    ).values_list("decision_id", "verdict"):
        verdicts.setdefault(decision_id, []).append(verdict)
    queries = list(prompts.items())
    vectors = vectorizer(N_FEATURES)
    similarity = (
        vectors.transform([text[:COMPARED_CHARACTERS] for _, text in queries])
        @ vectors.transform([row["prompt_text"][:COMPARED_CHARACTERS] for row in pool]).T
    ).toarray()
    found: dict[int, list[Similar]] = {}
    for position, (decision_id, _) in enumerate(queries):
        scores = similarity[position]
        ranked = np.argsort(-scores)[: limit + 1]
        found[decision_id] = [
            _similar(pool[i], float(scores[i]), verdicts)
            for i in ranked
            if pool[i]["pk"] != decision_id and scores[i] >= MIN_SIMILARITY
        ][:limit]
    return found


def _similar(row: dict[str, Any], score: float, verdicts: dict[int, list[str]]) -> Similar:
    failed = bool(
        (
            row["status"] == Decision.Status.ERROR
            and row["error_type"] not in Decision.INFRASTRUCTURE_ERRORS
        )
        or row["user_feedback"] == -1
        or row["retried"]
        or row["escalated"]
    )
    return Similar(
        decision_id=row["pk"],
        similarity=round(score, 3),
        served_tier_id=row["served_tier_id"],
        served_model_name=row["served_model_name"],
        failed=failed,
        verdicts=tuple(verdicts.get(row["pk"], ())),
    )
