"""The model learned from labels: trained, versioned, adopted only when it beats the heuristic."""

from io import StringIO

import pytest
from django.core.management import call_command

from review import detection, learning
from review.models import DetectorModel, Flag, Label


@pytest.fixture
def labelled(make_decision, reviewer):
    """400 large-tier decisions whose overkill label follows a word the heuristic cannot see."""

    def build(rule) -> list:
        decisions = []
        for i in range(400):
            secret = i % 3 == 0
            prompt = (
                f"Please check ticket {i} for {'zebra' if secret else 'walrus'} account issues."
            )
            decision = make_decision("claude-sonnet-4-5", prompt_text=prompt, event_id=f"l-{i}")
            Label.objects.create(
                decision=decision,
                reviewer=reviewer,
                verdict="should_be_cheaper" if rule(decision, secret) else "correct",
            )
            decisions.append(decision)
        return decisions

    return build


def test_too_few_labels_trains_nothing(db, tiers):
    result = learning.train()
    assert result.model is None
    assert result.message == "Not trained: 0 labelled decisions, 100 needed."


def test_a_model_that_ranks_held_out_labels_better_is_adopted_and_used(labelled):
    decisions = labelled(lambda decision, secret: secret)
    out = StringIO()
    call_command("train_detector", stdout=out)
    model = DetectorModel.objects.get()
    assert model.version == 1 and model.labels_used == 400
    assert model.adopted_kinds == ["overkill"]
    assert model.metrics["overkill"]["model_auc"] > model.metrics["overkill"]["heuristic_auc"]
    assert "overkill: model AUC" in out.getvalue() and "→ adopted" in out.getvalue()
    detector = detection.Detector.current()
    assert detector.version == "learned-v1-r1"
    detection.detect(decision_ids=[d.pk for d in decisions], detector=detector)
    flagged = set(Flag.objects.values_list("decision__event_id", flat=True))
    secret = {d.event_id for d in decisions if "zebra" in d.prompt_text}
    assert len(flagged & secret) / len(secret) > 0.9
    assert len(flagged - secret) < 0.1 * len(flagged)
    reason = Flag.objects.first().reasons
    assert any("the model learned from 400 reviewer labels (v1)" in r for r in reason)


def test_a_model_no_better_than_the_heuristic_is_refused(make_decision, reviewer):
    # Labels that follow the heuristic exactly (greetings on a large model are overkill, long
    # analyses are not): the heuristic ranks the held-out labels perfectly, a model can only tie.
    for i in range(300):
        easy = i % 2 == 0
        prompt = (
            f"hi there {i}"
            if easy
            else (
                f"Analyze the incident reports of week {i} step by step, compare the vendors, then "
                "plan the migration in phases and justify each estimate."
            )
        )
        decision = make_decision("claude-sonnet-4-5", prompt_text=prompt, event_id=f"r-{i}")
        Label.objects.create(
            decision=decision,
            reviewer=reviewer,
            verdict="should_be_cheaper" if easy else "correct",
        )
    result = learning.train()
    metrics = result.model.metrics["overkill"]
    assert metrics["heuristic_auc"] == 1.0
    assert result.model.adopted_kinds == []
    assert "→ refused" in result.message
    assert detection.Detector.current().version == "heuristic-r1"


def test_when_the_newest_model_is_refused_the_heuristic_takes_over(labelled):
    labelled(lambda decision, secret: secret)
    assert learning.train().model.adopted_kinds == ["overkill"]
    Label.objects.update(verdict="correct")  # the newer labels teach nothing
    assert learning.train().model.adopted_kinds == []
    assert detection.Detector.current().version == "heuristic-r1"
