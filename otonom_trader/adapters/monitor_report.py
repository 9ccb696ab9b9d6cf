"""``otonom monitor --export html``: one self-contained page (plotly.js embedded, opens
offline) with, per strategy, the live cumulative return inside the bootstrap cone of its
expected returns, the drawdown against its bound, and the slippage of each fill."""

from __future__ import annotations

import html
import math


def _figures(s) -> list:
    import plotly.graph_objects as go

    x = s.bar_times
    cone = go.Figure()
    if len(x):
        cone.add_trace(go.Scatter(x=x, y=s.cone[2], line={"width": 0}, showlegend=False,
                                  hoverinfo="skip"))
        cone.add_trace(go.Scatter(x=x, y=s.cone[0], fill="tonexty", line={"width": 0},
                                  fillcolor="rgba(100,149,237,0.25)",
                                  name="expected 5–95% (bootstrap)"))
        cone.add_trace(go.Scatter(x=x, y=s.cone[1], line={"dash": "dot"},
                                  name="expected median"))
        cone.add_trace(go.Scatter(x=x, y=s.live_cumulative, name="live", line={"width": 2}))
    cone.update_layout(title="Cumulative return: live vs expected", yaxis_tickformat=".1%",
                       height=380)
    dd = go.Figure()
    if len(x):
        dd.add_trace(go.Scatter(x=x, y=-s.drawdown, name="live drawdown", fill="tozeroy"))
        if math.isfinite(s.drawdown_bound):
            dd.add_hline(y=-s.drawdown_bound, line_dash="dash",
                         annotation_text="95% bound (triple penance)")
    dd.update_layout(title="Drawdown against its bound", yaxis_tickformat=".1%", height=300)
    slip = go.Figure()
    slip.add_trace(go.Scatter(x=s.fill_times, y=s.slippage_bps, mode="markers",
                              name="fill vs engine price"))
    slip.add_hline(y=s.slippage_budget_bps, line_dash="dash",
                   annotation_text="strategy slippage_bps")
    slip.update_layout(title="Slippage per fill (bps)", height=280)
    return [cone, dd, slip]


def monitor_html(series: list) -> str:
    """The page for a list of ``app.production.monitor_page.MonitorSeries``."""
    import plotly.io as pio

    parts, first = [], True
    for s in series:
        notes = "".join(f"<li>{html.escape(r)}</li>" for r in s.reasons)
        parts.append(f"<h2>{html.escape(s.deployment)}: {html.escape(s.verdict)}</h2>"
                     f"<ul>{notes}</ul>")
        if not len(s.bar_times):
            parts.append("<p class='note'>No live returns in the journal yet.</p>")
        else:
            parts.append(f"<p class='note'>Cone: {len(s.cone[0])} bars of circular block "
                         f"bootstrap paths of the expected returns (block length "
                         f"{s.block_length}).</p>")
        for i, fig in enumerate(_figures(s)):
            parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=first,
                                     div_id=f"{s.deployment}-{i}"))
            first = False
    body = "\n".join(parts) or "<p>No deployed strategy.</p>"
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>otonom monitor</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
            ".note{color:#555}</style></head><body><h1>otonom monitor</h1>"
            f"{body}</body></html>\n")
