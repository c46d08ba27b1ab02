"""The compare page's chart: cost against quality for what ran, the active policy and the
proposal. Built here, drawn by plotly.js from a json_script island."""

import json
from typing import Any

import plotly.graph_objects as go

from review.models import PolicyVersion


def cost_quality(
    base: PolicyVersion, proposal: PolicyVersion, figures: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """A scatter of cost per 1,000 requests (x) against the share of labelled queries sent
    below their right tier (y): lower left is better on both."""
    first = figures[base.pk]
    points = [
        (
            "served (what ran)",
            first["served_cost_per_1k"],
            first["served_should_be_stronger_share"],
        ),
        (
            f"v{base.number} ({base.get_status_display().lower()})",
            first["cost_per_1k"],
            first["should_be_stronger_share"],
        ),
        (
            f"v{proposal.number} ({proposal.get_status_display().lower()})",
            figures[proposal.pk]["cost_per_1k"],
            figures[proposal.pk]["should_be_stronger_share"],
        ),
    ]
    figure = go.Figure()
    for (name, cost, share), color in zip(points, ("#9aa3af", "#5f6b7a", "#2f5bd3"), strict=True):
        figure.add_trace(
            go.Scatter(
                x=[float(cost)],
                y=[100 * share if share is not None else None],
                mode="markers+text",
                name=name,
                text=[name],
                textposition="top center",
                marker={"size": 14, "color": color},
                hovertemplate="%{text}<br>$%{x:.4f} per 1k<br>%{y:.1f}% should be stronger"
                "<extra></extra>",
            )
        )
    figure.update_layout(
        xaxis_title="cost per 1,000 requests ($, tier prices)",
        yaxis_title="labelled queries below their right tier (%)",
        showlegend=False,
        margin={"l": 60, "r": 90, "t": 30, "b": 50},
        height=320,
        template="plotly_white",
    )
    return json.loads(figure.to_json())
