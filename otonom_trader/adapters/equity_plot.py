"""The equity curve and drawdown of one backtest as a self-contained plotly page."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def equity_figure(equity: pd.Series, close: pd.Series | None = None, title: str = ""):
    """Equity (and buy-and-hold, when ``close`` is given) above the drawdown in percent."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.05, subplot_titles=("Equity", "Drawdown (%)"))
    fig.add_trace(go.Scatter(x=equity.index, y=equity.to_numpy(), name="strategy"), 1, 1)
    if close is not None:
        hold = equity.iloc[0] * close / close.iloc[0]
        fig.add_trace(go.Scatter(x=hold.index, y=hold.to_numpy(), name="buy & hold",
                                 line={"dash": "dot"}), 1, 1)
    drawdown = (equity / equity.cummax() - 1.0) * 100.0
    fig.add_trace(go.Scatter(x=drawdown.index, y=drawdown.to_numpy(), name="drawdown",
                             fill="tozeroy", line={"color": "firebrick"}), 2, 1)
    fig.update_layout(title=title, height=700, hovermode="x unified")
    return fig


def write_html(fig, path: str | Path, flag: str = "--output") -> Path:
    """Write ``fig`` with plotly.js embedded, so the page opens offline (``flag``: the option
    that gave ``path``, named if it cannot be written)."""
    from otonom_trader.adapters.output import write_output

    return write_output(path, flag, (".html", ".htm"),
                        lambda tmp: fig.write_html(tmp, include_plotlyjs=True, full_html=True))
