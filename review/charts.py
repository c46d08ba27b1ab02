"""The dashboard's Plotly figures, built on the server from a ``metrics.Board`` as plain figure
dicts (the JSON plotly.js draws), and handed to the page with ``json_script``.

Every point carries, in ``customdata``, the explorer URL listing the decisions it counts; the
page's script follows it on a click, and each chart also links to the explorer as a whole.

Names that come from gateways (models, categories) are escaped for Plotly: its text labels read
a few HTML tags (``<a href>``, ``<b>``…), and a category named like a link must show as text.
"""

import html
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from review.metrics import Board, histogram_percentile
from review.models import DIFFICULTY_BUCKETS, LATENCY_BUCKETS_MS, FlagKind, Tier

# One colour per tier, cheapest first; unclassified calls in grey.
TIER_COLOURS = ("#8fb8de", "#2f5bd3", "#7b4fb8", "#c0504d", "#e39b3b", "#4b9b6e")
UNCLASSIFIED_COLOUR = "#a7adb5"
KIND_COLOURS = {FlagKind.OVERKILL: "#e3a83b", FlagKind.UNDERPOWERED: "#d86a6a"}
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 12}


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str
    figure: dict[str, Any]
    explore: str
    empty: bool


def plain(text: str) -> str:
    """Text Plotly shows as it is: its pseudo-HTML tags escaped (it decodes the entities)."""
    return html.escape(text, quote=False)


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 320,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 50},
        "font": FONT,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "y": -0.22},
        "hovermode": "closest",
        "xaxis": {"gridcolor": "#eef0f3"},
        "yaxis": {"gridcolor": "#eef0f3", "rangemode": "tozero"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _tier_colour(board: Board, tier_id: int | None) -> str:
    positions = [t.pk for t in board.tiers]
    if tier_id not in positions:
        return UNCLASSIFIED_COLOUR
    return TIER_COLOURS[positions.index(tier_id) % len(TIER_COLOURS)]


def _tier(board: Board, tier_id: int | None) -> Tier | None:
    return next((t for t in board.tiers if t.pk == tier_id), None)


def _tier_url(board: Board, tier_id: int | None, **filters: Any) -> str:
    """The explorer for one tier; unclassified calls cannot be selected there, so their link
    lists the whole selection."""
    return board.selection.explorer_url(tier=_tier(board, tier_id), **filters)


def build(board: Board) -> list[Chart]:
    return [
        cost_per_day(board),
        calls_per_day(board),
        flags_per_week(board),
        confusion(board),
        difficulty(board),
        top_waste(board, by="model"),
        top_waste(board, by="category"),
        latency(board),
    ]


def _daily(board: Board, values: dict[tuple[date, int | None], Any], *, money: bool) -> list:
    days = board.selection.days
    traces = []
    for tier_id in board.served_tier_ids:
        name = board.tier_name(tier_id)
        traces.append(
            {
                "type": "bar",
                "name": plain(name),
                "x": [day.isoformat() for day in days],
                "y": [float(values.get((day, tier_id), 0)) for day in days],
                "marker": {"color": _tier_colour(board, tier_id)},
                "customdata": board.selection.explorer_urls(
                    [(day, day) for day in days], tier=_tier(board, tier_id)
                ),
                "hovertemplate": (
                    f"{plain(name)}<br>%{{x}}: "
                    + ("$%{y:,.2f}" if money else "%{y:,} calls")
                    + "<extra></extra>"
                ),
            }
        )
    return traces


def cost_per_day(board: Board) -> Chart:
    return Chart(
        key="cost",
        title="Cost per day by tier",
        description="Dollars per UTC day, stacked by the tier that served the call.",
        figure={
            "data": _daily(board, board.daily_cost, money=True),
            "layout": _layout(barmode="stack", yaxis={"tickprefix": "$"}),
        },
        explore=board.selection.explorer_url(sort="cost"),
        empty=not board.daily_calls,
    )


def calls_per_day(board: Board) -> Chart:
    return Chart(
        key="calls",
        title="Decisions per day by tier",
        description="Routed calls per UTC day, stacked by served tier.",
        figure={
            "data": _daily(board, board.daily_calls, money=False),
            "layout": _layout(barmode="stack"),
        },
        explore=board.selection.explorer_url(),
        empty=not board.daily_calls,
    )


def flags_per_week(board: Board) -> Chart:
    selection = board.selection
    weeks = sorted(board.weekly_flags)
    traces: list[dict[str, Any]] = []
    for kind, label in FlagKind.choices:
        counts = [board.weekly_flags[week].get(kind, (0, 0, 0)) for week in weeks]
        # The explorer link of a week covers only its days inside the selection.
        spans = [
            (max(week, selection.first), min(week + timedelta(days=6), selection.last))
            for week in weeks
        ]
        traces.append(
            {
                "type": "bar",
                "name": f"{label} flags",
                "x": [week.isoformat() for week in weeks],
                "y": [n for n, _, _ in counts],
                "marker": {"color": KIND_COLOURS[FlagKind(kind)]},
                "customdata": selection.explorer_urls(spans, flag=kind),
                "hovertemplate": f"week of %{{x}}: %{{y:,}} {label.lower()} flags<extra></extra>",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{label} precision",
                "x": [week.isoformat() for week in weeks],
                "y": [
                    confirmed / reviewed if reviewed else None for _, reviewed, confirmed in counts
                ],
                "yaxis": "y2",
                "connectgaps": True,
                "line": {"color": KIND_COLOURS[FlagKind(kind)], "dash": "dot"},
                "customdata": selection.explorer_urls(spans, flag=kind, label="any"),
                "text": [
                    f"{confirmed} of {reviewed} reviewed" for _, reviewed, confirmed in counts
                ],
                "hovertemplate": (
                    f"week of %{{x}}: {label.lower()} precision %{{y:.0%}} (%{{text}})"
                    "<extra></extra>"
                ),
            }
        )
    return Chart(
        key="flags",
        title="Flags per week, with precision",
        description="Flags of the current detector version per ISO week of the decisions (bars),"
        " and the share of reviewed flags that reviewers confirmed (dotted, right axis).",
        figure={
            "data": traces,
            "layout": _layout(
                barmode="group",
                xaxis={"type": "category"},
                yaxis2={
                    "overlaying": "y",
                    "side": "right",
                    "range": [0, 1],
                    "tickformat": ".0%",
                    "showgrid": False,
                },
                margin={"r": 50},
            ),
        },
        explore=selection.explorer_url(flag="any", sort="confidence"),
        empty=not weeks,
    )


def confusion(board: Board) -> Chart:
    tiers = board.tiers
    z = [[board.confusion.get((served.pk, right.pk), 0) for right in tiers] for served in tiers]
    urls = [
        [board.selection.explorer_url(tier=served, label="any") for _ in tiers] for served in tiers
    ]
    names = [plain(t.name) for t in tiers]
    return Chart(
        key="confusion",
        title="Served tier against the reviewers' right tier",
        description="Labelled decisions by the tier that served them (rows) and the tier the "
        "first label says was right (columns); the diagonal was routed right."
        + (
            f" {board.without_right_tier:,} labelled decisions name no right tier."
            if board.without_right_tier
            else ""
        ),
        figure={
            "data": [
                {
                    "type": "heatmap",
                    "x": names,
                    "y": names,
                    "z": z,
                    "text": [[str(n) for n in row] for row in z],
                    "texttemplate": "%{text}",
                    "colorscale": [[0, "#f4f6fb"], [1, "#2f5bd3"]],
                    "showscale": False,
                    "customdata": urls,
                    "hovertemplate": "served %{y}, right tier %{x}: %{z:,} decisions"
                    "<extra></extra>",
                }
            ],
            "layout": _layout(
                xaxis={"title": {"text": "right tier"}, "type": "category"},
                yaxis={"title": {"text": "served tier"}, "type": "category", "automargin": True},
            ),
        },
        explore=board.selection.explorer_url(label="any"),
        empty=not board.confusion,
    )


def difficulty_labels() -> list[str]:
    step = 1 / DIFFICULTY_BUCKETS
    return [f"{i * step:.1f}–{(i + 1) * step:.1f}" for i in range(DIFFICULTY_BUCKETS)]


def difficulty(board: Board) -> Chart:
    labels = difficulty_labels()
    traces = []
    for tier_id in board.served_tier_ids:
        counts = board.difficulty.get(tier_id, [0] * DIFFICULTY_BUCKETS)
        assessed = sum(counts)
        if not assessed:
            continue
        name = board.tier_name(tier_id)
        traces.append(
            {
                "type": "bar",
                "name": plain(name),
                "x": labels,
                "y": [n / assessed for n in counts],
                "text": [f"{n:,} of {assessed:,}" for n in counts],
                "textposition": "none",
                "marker": {"color": _tier_colour(board, tier_id)},
                "customdata": [_tier_url(board, tier_id)] * len(labels),
                "hovertemplate": f"{plain(name)}: difficulty %{{x}}, %{{y:.1%}} (%{{text}})"
                "<extra></extra>",
            }
        )
    return Chart(
        key="difficulty",
        title="Difficulty by served tier",
        description="How hard the assessed prompts of each tier were: each tier's share of its "
        "calls per difficulty band. Easy prompts on strong tiers are the overkill to look at.",
        figure={
            "data": traces,
            "layout": _layout(
                barmode="group",
                xaxis={"title": {"text": "difficulty"}, "type": "category"},
                yaxis={"tickformat": ".0%"},
            ),
        },
        explore=board.selection.explorer_url(),
        empty=not traces,
    )


def top_waste(board: Board, *, by: str) -> Chart:
    rows = board.top_models if by == "model" else board.top_categories
    selection = board.selection
    # Largest at the top: Plotly draws a horizontal bar chart's first category at the bottom.
    rows = list(reversed(rows))
    # Calls without a category cannot be selected in the explorer (an empty filter means
    # any): their bar has no link.
    urls = [
        selection.explorer_url(flag=FlagKind.OVERKILL.value, model=name)
        if by == "model"
        else selection.explorer_url(flag=FlagKind.OVERKILL.value, category=name)
        if name
        else None
        for name, _, _ in rows
    ]
    plural = "models" if by == "model" else "categories"
    return Chart(
        key=f"waste_{by}",
        title=f"Top {len(rows) or 10} {plural} by estimated waste",
        description=f"Dollars at stake in overkill flags, by served {by}.",
        figure={
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [plain(name or "(none)") for name, _, _ in rows],
                    "x": [float(dollars) for _, dollars, _ in rows],
                    "text": [f"{n:,} flags" for _, _, n in rows],
                    "marker": {"color": KIND_COLOURS[FlagKind.OVERKILL]},
                    "customdata": urls,
                    "hovertemplate": "%{y}: $%{x:,.2f} (%{text})<extra></extra>",
                }
            ],
            "layout": _layout(
                xaxis={"tickprefix": "$"},
                yaxis={"type": "category", "automargin": True},
                margin={"l": 10},
                showlegend=False,
            ),
        },
        explore=selection.explorer_url(flag=FlagKind.OVERKILL.value),
        empty=not rows,
    )


def latency_label(lower: int, upper: int | None) -> str:
    if upper is None:
        return f"over {lower:,} ms"
    return f"{lower:,}–{upper:,} ms"


def latency(board: Board) -> Chart:
    tiers = [t for t in board.served_tier_ids if sum(board.latency.get(t, []))]
    traces = []
    for percentile, colour in zip((50, 90, 99), ("#8fb8de", "#2f5bd3", "#1d232b"), strict=True):
        found = [histogram_percentile(board.latency[t], percentile) for t in tiers]
        traces.append(
            {
                "type": "bar",
                "name": f"p{percentile}",
                "x": [plain(board.tier_name(t)) for t in tiers],
                # The bucket's upper bound: the percentile is at most this; past the last
                # bucket, its lower bound.
                "y": [(p.upper or p.lower) if p else None for p in found],
                "text": [latency_label(p.lower, p.upper) if p else "" for p in found],
                "textposition": "none",
                "marker": {"color": colour},
                "customdata": [_tier_url(board, t) for t in tiers],
                "hovertemplate": f"%{{x}} p{percentile}: %{{text}}<extra></extra>",
            }
        )
    return Chart(
        key="latency",
        title="Latency percentiles by tier",
        description="p50, p90 and p99 of the calls' latency, read from a histogram with ten "
        f"buckets per decade up to {LATENCY_BUCKETS_MS[-1] // 1000} s: each bar is the upper "
        "bound of the bucket holding the percentile.",
        figure={
            "data": traces,
            "layout": _layout(
                barmode="group",
                xaxis={"type": "category"},
                yaxis={"type": "log", "title": {"text": "ms"}, "rangemode": "normal"},
            ),
        },
        explore=board.selection.explorer_url(),
        empty=not tiers,
    )


def figures(charts: list[Chart]) -> dict[str, dict[str, Any]]:
    """The figures by chart key: the page's JSON data island."""
    return {chart.key: chart.figure for chart in charts if not chart.empty}
