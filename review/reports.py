"""The weekly report: what a round reviewed and found, the week's waste, and the policy changes
proposed since, as a printable page and as a PDF printed by headless Chromium.

The PDF is printed from the same template as the page, rendered to a file with the stylesheet
inlined, by ``chromium --headless --print-to-pdf`` run from the web request: the file holds only
escaped text and the app's own CSS, and Chromium gets no network to fetch anything else.
"""

import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.db.models import Q

from review import labels, metrics, rounds
from review.models import (
    Decision,
    FlagKind,
    Label,
    PolicyVersion,
    QueueItem,
    ReviewRound,
    Tier,
    Verdict,
)
from review.rollups import CONFIRMING_VERDICT, day_start

# Generous: Chromium starts in about a second; a cold start on a busy machine takes longer.
PRINT_TIMEOUT_SECONDS = 60
TOP_MISROUTES = 10


class PdfUnavailable(Exception):
    """The PDF cannot be printed here (no Chromium, or it failed); the message says why."""


@dataclass(frozen=True)
class KindPrecision:
    kind: str
    label: str
    flagged: int
    reviewed: int
    confirmed: int

    @property
    def rate(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class Misroute:
    decision: Decision
    verdict: str
    right_tier: Tier | None
    flag_kind: str
    dollars: Decimal | None


@dataclass
class Report:
    round: ReviewRound
    first: date
    last: date
    progress: rounds.Progress
    verdicts: list[tuple[str, int]]
    precision: list[KindPrecision]
    sample_reviewed: int
    sample_misrouted: int
    week: metrics.Totals
    top_models: list[tuple[str, Decimal, int]]
    top_categories: list[tuple[str, Decimal, int]]
    misroutes: list[Misroute]
    hidden_misroutes: int
    proposals: list[PolicyVersion]
    activations: list[PolicyVersion]

    @property
    def miss_rate(self) -> float | None:
        return self.sample_misrouted / self.sample_reviewed if self.sample_reviewed else None

    @property
    def week_overkill_dollars(self) -> Decimal:
        return self.week.flag_dollars.get(FlagKind.OVERKILL, Decimal(0))


def gather(review_round: ReviewRound, *, viewer: Any) -> Report:
    """The report of a round as ``viewer`` may see it: decisions still labelled blind for them
    are counted but not listed."""
    first = review_round.week_start
    last = first + timedelta(days=6)
    items = list(
        review_round.items.select_related(
            "flag", "decision__served_model", "decision__served_tier", "decision__gateway"
        )
    )
    first_labels: dict[int, Label] = {}
    for label in (
        Label.objects.filter(decision_id__in=[item.decision_id for item in items])
        .select_related("right_tier")
        .order_by("created_at", "pk")
    ):
        first_labels.setdefault(label.decision_id, label)

    verdicts = Counter(label.verdict for label in first_labels.values())
    precision = []
    for kind, kind_label in FlagKind.choices:
        flagged = [i for i in items if i.flag is not None and i.flag.kind == kind]
        judged = [first_labels[i.decision_id] for i in flagged if i.decision_id in first_labels]
        reviewed = [label for label in judged if label.verdict != Verdict.UNSURE]
        precision.append(
            KindPrecision(
                kind=kind,
                label=kind_label,
                flagged=len(flagged),
                reviewed=len(reviewed),
                confirmed=sum(
                    label.verdict == CONFIRMING_VERDICT[FlagKind(kind)] for label in reviewed
                ),
            )
        )
    sampled = [
        first_labels[i.decision_id]
        for i in items
        if i.source == QueueItem.Source.SAMPLE and i.decision_id in first_labels
    ]
    sample_reviewed = [label for label in sampled if label.verdict != Verdict.UNSURE]

    blind = labels.blind_to(viewer)
    misroutes = [
        Misroute(
            decision=item.decision,
            verdict=first_labels[item.decision_id].verdict,
            right_tier=first_labels[item.decision_id].right_tier,
            flag_kind=item.flag.kind if item.flag else "",
            dollars=item.flag.dollars if item.flag else None,
        )
        for item in items
        if item.decision_id in first_labels
        and first_labels[item.decision_id].verdict in metrics.MISROUTED
    ]
    shown = [m for m in misroutes if m.decision.pk not in blind]
    shown.sort(key=lambda m: (-(m.dollars or Decimal(0)), m.decision.pk))

    week = metrics.Selection(first=first, last=last)
    version = metrics.detector_version()
    top_models, top_categories = metrics.top_waste(week, version)
    since = day_start(first)
    return Report(
        round=review_round,
        first=first,
        last=last,
        progress=rounds.progress(review_round),
        verdicts=[(label, verdicts.get(value, 0)) for value, label in Verdict.choices],
        precision=precision,
        sample_reviewed=len(sample_reviewed),
        sample_misrouted=sum(label.verdict in metrics.MISROUTED for label in sample_reviewed),
        week=metrics.totals(week, version=version),
        top_models=top_models,
        top_categories=top_categories,
        misroutes=shown[:TOP_MISROUTES],
        hidden_misroutes=len(misroutes) - len(shown),
        proposals=list(
            PolicyVersion.objects.filter(
                status=PolicyVersion.Status.DRAFT, created_at__gte=since
            ).order_by("-number")
        ),
        activations=list(
            PolicyVersion.objects.filter(activated_at__gte=since)
            .filter(Q(status=PolicyVersion.Status.ACTIVE) | Q(status=PolicyVersion.Status.RETIRED))
            .order_by("-activated_at")
        ),
    )


def stylesheet() -> str:
    """The site's stylesheet, to inline in the printed file."""
    found = finders.find("css/site.css")
    if not found:
        return ""
    return Path(str(found)).read_text(encoding="utf-8")


def chromium_binary() -> str | None:
    configured = str(settings.CHROMIUM_BINARY)
    return configured if Path(configured).exists() else shutil.which(configured)


def print_pdf(html: str) -> bytes:
    """Print a self-contained HTML document to PDF with headless Chromium."""
    binary = chromium_binary()
    if binary is None:
        raise PdfUnavailable(
            f"Chromium was not found at {settings.CHROMIUM_BINARY} (set CHROMIUM_BINARY); "
            "print the report page from your browser instead."
        )
    with tempfile.TemporaryDirectory(prefix="report-") as folder:
        page = Path(folder) / "report.html"
        output = Path(folder) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            binary,
            "--headless",
            # Root in a container has no user namespace for Chromium's sandbox; the page is our
            # own escaped HTML and every request off the machine is refused below.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            f"--user-data-dir={Path(folder) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={output}",
            page.as_uri(),
        ]
        try:
            subprocess.run(  # noqa: S603 (a fixed command line; the page is a file we wrote)
                command,
                capture_output=True,
                timeout=PRINT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise PdfUnavailable(
                f"Chromium did not print within {PRINT_TIMEOUT_SECONDS} s"
            ) from error
        if not output.exists() or output.stat().st_size == 0:
            raise PdfUnavailable("Chromium did not print the report")
        return output.read_bytes()
