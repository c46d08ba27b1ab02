import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from review import evaluation


class Command(BaseCommand):
    help = (
        "Measure detection against decisions whose truth is known (demo ground truth, reviewer "
        "labels): precision, recall and ROC AUC per flag kind, beside the prompt-length and "
        "LiteLLM complexity-router baselines."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = evaluation.evaluate()
        if options["json"]:
            self.stdout.write(json.dumps(evaluation.as_json(reports), indent=2))
            return
        if not reports:
            self.stdout.write("No assessed decisions with a known truth yet.")
            return
        for report in reports:
            self.stdout.write(
                f"{report.kind}: {report.positives} misroutes among {report.decisions} decisions"
            )
            self.stdout.write(
                f"  {'detector':<28}{'precision':>10}{'recall':>8}{'ROC AUC':>9}"
                f"{'precision at our recall':>25}"
            )
            for scores in (report.detector, *report.baselines):
                self.stdout.write(
                    f"  {scores.name:<28}{_fmt(scores.precision):>10}{_fmt(scores.recall):>8}"
                    f"{_fmt(scores.roc_auc):>9}{_fmt(scores.precision_at_detector_recall):>25}"
                )


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
