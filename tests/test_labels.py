import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from review.models import Gateway, Label


def _write(tmp_path, entries) -> str:
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(e if isinstance(e, str) else json.dumps(e) for e in entries))
    return str(path)


def test_labels_are_imported_with_new_reviewers(make_decision, tmp_path, reviewer, tiers):
    make_decision(event_id="e1")
    make_decision(event_id="e2")
    path = _write(
        tmp_path,
        [
            {
                "event_id": "e1",
                "verdict": "should_be_cheaper",
                "right_tier": "small",
                "reviewer": "rita",
            },
            {"event_id": "e2", "verdict": "correct", "reviewer": "otto", "note": "fine"},
        ],
    )
    out = StringIO()
    call_command("import_labels", path, stdout=out)
    assert out.getvalue().strip() == "Imported 2 new and 0 updated labels; new reviewers: otto."
    label = Label.objects.get(decision__event_id="e1")
    assert (label.reviewer, label.verdict, label.right_tier) == (
        reviewer,
        "should_be_cheaper",
        tiers["small"],
    )
    assert not User.objects.get(username="otto").has_usable_password()
    call_command("import_labels", path, stdout=out)
    assert Label.objects.count() == 2  # re-importing updates, never duplicates


def test_one_bad_line_imports_nothing_and_every_problem_is_named(make_decision, tmp_path):
    make_decision(event_id="e1")
    path = _write(
        tmp_path,
        [
            {"event_id": "e1", "verdict": "correct", "reviewer": "rita"},
            {"event_id": "nope", "verdict": "correct", "reviewer": "rita"},
            {"event_id": "e1", "verdict": "great", "reviewer": "rita"},
            {"event_id": "e1", "verdict": "correct", "reviewer": "rita", "right_tier": "huge"},
            "{broken",
        ],
    )
    err = StringIO()
    with pytest.raises(CommandError, match="Nothing imported: 4 problem"):
        call_command("import_labels", path, stderr=err)
    problems = err.getvalue().splitlines()
    assert problems[0].startswith("line 3: verdict must be one of correct, ")
    assert problems[1].startswith("line 4: right_tier must be one of small, medium")
    assert problems[2].startswith("line 5: not JSON")
    assert problems[3] == "line 2: unknown event id 'nope'"
    assert not Label.objects.exists()


def test_an_event_id_at_two_gateways_needs_the_gateway(make_decision, tmp_path):
    make_decision(event_id="e1")
    make_decision(event_id="e1", gateway=Gateway.objects.create(name="other"))
    entry = {"event_id": "e1", "verdict": "correct", "reviewer": "rita"}
    with pytest.raises(CommandError):
        call_command("import_labels", _write(tmp_path, [entry]), stderr=StringIO())
    call_command(
        "import_labels", _write(tmp_path, [{**entry, "gateway": "other"}]), stdout=StringIO()
    )
    assert Label.objects.get().decision.gateway.name == "other"
