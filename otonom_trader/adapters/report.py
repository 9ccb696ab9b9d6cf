"""An experiment's analysis as ONE self-contained interactive HTML page (plotly.js embedded
once, no external resources, opens offline).

Sections (``<section id=...>``): ``summary``, ``top-results``, ``parameter-analysis``,
``overfitting``, ``distributions``, ``best-run``. Every figure is a ``plotly-graph-div`` with
a fixed ``id`` (``FIGURE_IDS``). Big experiments stay small: histograms are binned with numpy,
box plots and heatmaps carry precomputed statistics, and the train/test scatter draws a
seeded sample of at most ``MAX_POINTS`` runs that always includes the top runs (the page says
so). ``report`` is anything shaped like ``ExperimentReport`` below (``app.experiments.show``
builds one).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import pandas as pd

from otonom_trader.domain.cv import cpcv_lines

MAX_POINTS = 5_000
SEED = 0
MAX_LISTED = 20  # overfit runs listed in the table
MAX_PARAMS_PLOTTED = 8
PARETO_FIGURE_ID = "fig-pareto-front"  # only for a multi-objective experiment
FIGURE_IDS = ("fig-param-importance", "fig-param-effects", "fig-param-heatmap",
              "fig-train-test", "fig-pbo-logits", "fig-distributions", "fig-param-box",
              "fig-best-equity")
CPCV_FIGURE = "fig-cpcv-paths"  # only for a search run with --cv cpcv, beside the PBO logits
SECTIONS = (("summary", "Summary Statistics"), ("top-results", "Top Results"),
            ("parameter-analysis", "Parameter Analysis"), ("overfitting", "Overfitting Detection"),
            ("distributions", "Distribution Plots"), ("best-run", "Best Run"))
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;
color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:16px 28px}header h1{margin:0;font-size:22px}
nav{padding:6px 28px;background:#e8eef4;position:sticky;top:0;z-index:5}
nav a{margin-right:14px;color:#1f3b57;text-decoration:none;font-size:14px}
section{background:#fff;margin:18px 28px;padding:14px 22px;border:1px solid #ddd;
border-radius:6px}
h2{font-size:19px;border-bottom:1px solid #eee;padding-bottom:6px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f0f3f6}
td.l,th.l{text-align:left}dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;
font-size:14px}dt{font-weight:600}dd{margin:0}.warn{color:#a15c00}.ok{color:#2a7a2a}
.note{color:#666;font-size:13px}.plot{margin:10px 0}code{font-size:12px}
.pair{display:flex;flex-wrap:wrap;gap:12px}.pair>.plot{flex:1 1 420px;min-width:0}
"""


class ExperimentReport(Protocol):
    """What the page reads of an experiment's analysis (the adapter depends on no use case)."""

    info: Any  # adapters.store_models.ExperimentInfo
    summary: Any  # id, name, status, split, counts, ...
    sort_by: str
    parameters: tuple[str, ...]
    top: pd.DataFrame
    best: pd.Series
    rule: Any  # engine.selection.SelectionRule
    effects: tuple[Any, ...]  # per parameter: path, importance, labels, counts, codes
    overfitting: Any  # gap, DSR, PBO, warnings
    runs: pd.DataFrame
    notes: tuple[str, ...]


def _e(value) -> str:
    return html.escape(str(value))


def _f(value, spec: str = ".3f", suffix: str = "") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{v:{spec}}{suffix}" if math.isfinite(v) else "n/a"


def _short_names(paths: Iterable[str]) -> dict[str, str]:
    """The last part of each dotted path, or the whole path where the last parts clash."""
    paths = list(paths)
    tails = [p.rsplit(".", 1)[-1] for p in paths]
    return {p: t if tails.count(t) == 1 else p for p, t in zip(paths, tails, strict=True)}


def params_text(row: pd.Series, paths: tuple[str, ...]) -> str:
    names = _short_names(paths)
    parts = []
    for p in paths:
        v = row[p]
        if isinstance(v, float | np.floating):
            v = int(v) if float(v).is_integer() else f"{float(v):.4g}"
        parts.append(f"{names[p]}={v}")
    return ", ".join(parts)


def _fig_html(fig, div_id: str) -> str:
    import plotly.io as pio

    body = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"responsive": True, "displaylogo": False})
    return f'<div class="plot">{body}</div>'


# -- tables ------------------------------------------------------------------------------


def _summary_html(report: ExperimentReport) -> str:
    s = report.summary
    search = s.search or {}
    kind = search.get("kind", "grid")
    if kind in ("random", "optuna"):
        kind += f" (n_iter={search.get('n_iter')}, seed={search.get('seed')})"
    if search.get("kind") == "optuna" and search.get("objectives"):
        kind += f", NSGA-II on {search.get('window')} {', '.join(search['objectives'])}"
    elif search.get("kind") == "optuna":
        kind += f", TPE on {search.get('window')} {search.get('metric')}"
    elif search.get("objectives"):
        kind += f", objectives {', '.join(search['objectives'])}"
    split = s.split
    minutes, seconds = divmod(s.elapsed_seconds or 0.0, 60)
    taken = ("—" if s.elapsed_seconds is None else
             f"{int(minutes)} min {seconds:.1f} s" if minutes else f"{seconds:.2f} s")
    rows = [
        ("Experiment", f"#{s.id} {s.name}"), ("Status", s.status),
        ("Strategy", f"{s.strategy_name} ({s.strategy_path})"), ("Symbol", s.symbol),
        ("Search", kind),
        ("Train window", f"{split.get('train_start')} → {split.get('train_end')} "
                         f"({report.overfitting.train_years:.1f} years)"),
        ("Test window", f"{split.get('test_start')} → {split.get('test_end')} "
                        f"({report.overfitting.test_years:.1f} years)"),
        ("Total runs", f"{s.total_runs:,}"), ("Done", f"{s.done:,}"),
        ("Failed", f"{s.failed:,}"), ("Pending", f"{s.pending:,}"),
        ("Success rate", _f(100 * s.success_rate, ".1f", "%")),
        ("Time taken", taken),
        ("Data fingerprint", s.data_fingerprint), ("Git commit", s.commit_text),
        ("Created", s.created_at if s.created_at == "—" else f"{s.created_at} UTC"),
        ("Best run", f"#{int(report.best['run_number'])} by {report.rule.label} "
                     f"(the promote rule)"),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _runs_table(frame: pd.DataFrame, paths: tuple[str, ...], table_id: str,
                sort_by: str | None = None, gap_threshold: float = 1.0) -> str:
    head = ["Rank", "Run #", "Parameters", "Test Sharpe", "Test CAGR", "Test MaxDD",
            "Test trades", "Train Sharpe", "Gap"]
    extra = sort_by not in (None, "sharpe", "cagr_pct", "max_drawdown_pct", "n_trades")
    if extra:
        head.insert(3, f"Test {sort_by}")
    cells = []
    for i, (_, r) in enumerate(frame.iterrows(), start=1):
        gap = r["sharpe_gap"]
        cls = ' class="warn"' if math.isfinite(gap) and gap > gap_threshold else ""
        row = [str(i), str(int(r["run_number"])),
               f'<td class="l">{_e(params_text(r, paths))}</td>']
        values = [_f(r["test_sharpe"]), _f(r["test_cagr_pct"], "+.2f", "%"),
                  _f(r["test_max_drawdown_pct"], ".2f", "%"), _f(r["test_n_trades"], ".0f"),
                  _f(r["train_sharpe"])]
        if extra:
            values.insert(0, _f(r[f"test_{sort_by}"]))
        row_html = (f"<td>{row[0]}</td><td>{row[1]}</td>{row[2]}"
                    + "".join(f"<td>{v}</td>" for v in values)
                    + f"<td{cls}>{_f(gap)}</td>")
        cells.append(f"<tr>{row_html}</tr>")
    header = "".join(f'<th{" class=l" if h == "Parameters" else ""}>{_e(h)}</th>' for h in head)
    return (f'<table id="{table_id}"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(cells)}</tbody></table>')


# -- figures -----------------------------------------------------------------------------


def _importance_fig(report: ExperimentReport):
    import plotly.graph_objects as go

    effects = report.effects[::-1]  # most important on top
    fig = go.Figure(go.Bar(x=[e.importance for e in effects], y=[e.path for e in effects],
                           orientation="h", marker_color="#1f77b4",
                           hovertemplate="%{y}: η² = %{x:.3f}<extra></extra>"))
    fig.update_layout(title="Share of test-Sharpe variance explained (η²)", height=120 + 40 *
                      len(effects), margin={"l": 220}, xaxis={"range": [0, 1]})
    return fig


def _effects_fig(report: ExperimentReport, effects):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cols = 2 if len(effects) > 1 else 1
    rows = math.ceil(len(effects) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[
        f"{e.path} (η² {e.importance:.3f}{', binned' if e.binned else ''})" for e in effects])
    for k, e in enumerate(effects):
        fig.add_trace(go.Bar(x=list(e.labels), y=list(e.mean_test_sharpe),
                             customdata=list(e.counts), name=e.path, showlegend=False,
                             marker_color="#4c78a8",
                             hovertemplate="%{x}: mean test Sharpe %{y:.3f} "
                                           "(%{customdata} runs)<extra></extra>"),
                      k // cols + 1, k % cols + 1)
        fig.update_xaxes(type="category", row=k // cols + 1, col=k % cols + 1)
    fig.update_layout(title="Mean test Sharpe by parameter value", height=max(320, 300 * rows))
    return fig


def _heatmap_fig(report: ExperimentReport):
    import plotly.graph_objects as go

    a, b = report.effects[0], report.effects[1]
    use = (a.codes >= 0) & (b.codes >= 0)
    y = report.runs["test_sharpe"].to_numpy()[use]
    ka, kb = len(a.labels), len(b.labels)
    flat = a.codes[use] * kb + b.codes[use]
    counts = np.bincount(flat, minlength=ka * kb)
    sums = np.bincount(flat, weights=y, minlength=ka * kb)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).reshape(ka, kb)
    z = [[None if not math.isfinite(v) else round(float(v), 4) for v in row] for row in means]
    fig = go.Figure(go.Heatmap(z=z, x=list(b.labels), y=list(a.labels), colorscale="RdBu",
                               zmid=0, colorbar={"title": "mean test Sharpe"},
                               customdata=counts.reshape(ka, kb).tolist(),
                               hovertemplate=f"{a.path}=%{{y}}<br>{b.path}=%{{x}}<br>"
                                             "mean test Sharpe %{z:.3f} (%{customdata} runs)"
                                             "<extra></extra>"))
    fig.update_layout(title=f"Mean test Sharpe: {a.path} × {b.path}", height=520,
                      xaxis={"title": b.path, "type": "category"},
                      yaxis={"title": a.path, "type": "category"})
    return fig


def _box_fig(report: ExperimentReport, effects):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    y_all = report.runs["test_sharpe"].to_numpy(dtype=float)
    if not np.isfinite(y_all).any():
        return None
    cols = 2 if len(effects) > 1 else 1
    rows = math.ceil(len(effects) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[e.path for e in effects])
    for k, e in enumerate(effects):
        use = (e.codes >= 0) & np.isfinite(y_all)
        g = pd.Series(y_all[use]).groupby(e.codes[use])
        q = g.quantile([0.25, 0.5, 0.75]).unstack()
        lo, hi, mean = g.min(), g.max(), g.mean()
        iqr = q[0.75] - q[0.25]
        lower = np.maximum(lo, q[0.25] - 1.5 * iqr)
        upper = np.minimum(hi, q[0.75] + 1.5 * iqr)
        labels = [e.labels[i] for i in q.index]
        fig.add_trace(go.Box(x=labels, q1=q[0.25].tolist(), median=q[0.5].tolist(),
                             q3=q[0.75].tolist(), lowerfence=lower.tolist(),
                             upperfence=upper.tolist(), mean=mean.tolist(), name=e.path,
                             showlegend=False, marker_color="#2c7fb8"),
                      k // cols + 1, k % cols + 1)
        fig.update_xaxes(type="category", row=k // cols + 1, col=k % cols + 1)
    fig.update_layout(title="Test Sharpe by parameter value (box: quartiles, whiskers 1.5×IQR "
                            "clipped to min/max, dashed: mean)", height=max(320, 300 * rows))
    return fig


def _sample(report: ExperimentReport, candidates: np.ndarray, max_points: int,
            seed: int) -> tuple[np.ndarray, str]:
    """Row positions to draw and what the page should say about it."""
    n = len(candidates)
    if n <= max_points:
        return candidates, f"all {n:,} runs with a finite train and test Sharpe are shown"
    top_numbers = set(report.top["run_number"].tolist())
    numbers = report.runs["run_number"].to_numpy()[candidates]
    is_top = np.isin(numbers, list(top_numbers))
    keep = candidates[is_top]
    rest = candidates[~is_top]
    rng = np.random.default_rng(seed)
    pick = rng.choice(rest, size=max_points - len(keep), replace=False)
    chosen = np.sort(np.concatenate([keep, pick]))
    return chosen, (f"a random sample of {len(chosen):,} of {n:,} runs with a finite train and "
                    f"test Sharpe is shown (seed {seed}); the top {len(keep)} runs are always "
                    "included")


def _scatter_fig(report: ExperimentReport, max_points: int, seed: int):
    import plotly.graph_objects as go

    runs, o = report.runs, report.overfitting
    train, test = runs["train_sharpe"].to_numpy(), runs["test_sharpe"].to_numpy()
    done = (runs["status"] == "done").to_numpy()
    candidates = np.flatnonzero(done & np.isfinite(train) & np.isfinite(test))
    if len(candidates) == 0:
        return None, "no run has both a finite train and test Sharpe"
    rows, text = _sample(report, candidates, max_points, seed)
    thr = o.gap_threshold
    lo = float(min(train[candidates].min(), test[candidates].min()))
    hi = float(max(train[candidates].max(), test[candidates].max()))
    pad = 0.05 * (hi - lo) + 0.1
    lo, hi = lo - pad, hi + pad
    fig = go.Figure()
    if lo + thr < hi:
        fig.add_trace(go.Scatter(x=[lo + thr, hi, hi, lo + thr], y=[lo, hi - thr, lo, lo],
                                 fill="toself", fillcolor="rgba(214,39,40,0.12)",
                                 line={"width": 0}, mode="lines", hoverinfo="skip",
                                 name=f"gap > {thr:g} (overfit zone)"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", hoverinfo="skip",
                             line={"dash": "dash", "color": "#888"}, name="test = train"))
    numbers = runs["run_number"].to_numpy()
    gap = train - test
    top = np.isin(numbers[rows], report.top["run_number"].to_numpy())
    over = (gap[rows] > thr) & ~top
    for mask, name, style in ((~over & ~top, "runs", {"color": "#1f77b4", "size": 5}),
                              (over, f"gap > {thr:g}", {"color": "#d62728", "size": 5}),
                              (top, f"top {len(report.top)} by test {report.sort_by}",
                               {"color": "#ff9f00", "size": 11, "symbol": "star",
                                "line": {"width": 1, "color": "#333"}})):
        r = rows[mask]
        fig.add_trace(go.Scatter(
            x=train[r], y=test[r], mode="markers", name=name, customdata=numbers[r],
            marker={"opacity": 0.6 if name == "runs" else 0.9, **style},
            hovertemplate="Run #%{customdata}<br>train %{x:.3f}<br>test %{y:.3f}"
                          "<extra></extra>"))
    fig.update_layout(title="Train vs test Sharpe", height=560,
                      xaxis={"title": "train Sharpe", "range": [lo, hi]},
                      yaxis={"title": "test Sharpe", "range": [lo, hi]})
    return fig, text


def _pareto_html(report: ExperimentReport, max_points: int, seed: int) -> str:
    """The Pareto front on the first two objectives (train window), the other done runs
    greyed (a seeded sample of at most ``max_points``), the knee starred."""
    import plotly.graph_objects as go

    front, objectives = report.pareto, report.objectives
    x_key, y_key = (f"train_{k}" for k in objectives[:2])
    runs = report.runs
    done = (runs["status"] == "done").to_numpy()
    xs, ys = runs[x_key].to_numpy(float), runs[y_key].to_numpy(float)
    others = np.flatnonzero(done & np.isfinite(xs) & np.isfinite(ys)
                            & ~runs["run_number"].isin(front["run_number"]).to_numpy())
    note = f"all {len(others):,} other done runs"
    if len(others) > max_points:
        others = np.sort(np.random.default_rng(seed).choice(others, max_points, replace=False))
        note = f"a random sample of {max_points:,} other done runs (seed {seed})"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs[others], y=ys[others], mode="markers", name="other runs",
                             marker={"color": "#c8c8c8", "size": 5},
                             text=[f"run #{n}" for n in runs["run_number"].to_numpy()[others]]))
    ordered = front.sort_values(x_key)
    fig.add_trace(go.Scatter(
        x=ordered[x_key], y=ordered[y_key], mode="lines+markers", name="Pareto front",
        marker={"color": "#1f77b4", "size": 8},
        text=[f"run #{int(n)}: {params_text(r, report.parameters)}"
              for n, (_, r) in zip(ordered["run_number"], ordered.iterrows(), strict=True)]))
    knee = front.attrs.get("knee_run")
    if knee is not None:
        row = front[front["run_number"] == knee].iloc[0]
        fig.add_trace(go.Scatter(x=[row[x_key]], y=[row[y_key]], mode="markers",
                                 name=f"knee (run #{knee})",
                                 marker={"symbol": "star", "size": 16, "color": "#d62728"}))
    fig.update_layout(title=f"Pareto front on train {objectives[0]} × {objectives[1]}",
                      xaxis_title=f"train {objectives[0]}", yaxis_title=f"train {objectives[1]}",
                      height=460)
    more = (f" (the front is on all {len(objectives)} objectives: "
            f"{', '.join(objectives)}; the plot shows the first two)"
            if len(objectives) > 2 else "")
    return (f'<h3 id="pareto-front">Pareto front ({len(front):,} runs)</h3>'
            f'<p class="note">Done runs no other run beats on every train objective{more}; '
            f"greyed: {_e(note)}. Knee: the front run farthest from the line between the "
            "front's extremes (objectives normalised over the front; 3 or more objectives: "
            f"nearest to the utopia point).</p>" + _fig_html(fig, PARETO_FIGURE_ID))


def histogram(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, str | None]:
    """``(counts, edges, note)`` of the finite ``values``, for any data: none (empty arrays),
    one value or values equal up to rounding (one bar around it), or a range too narrow for
    ``bins`` bins (fewer bins). ``note`` says what the plot shows when it is not the plain
    histogram."""
    v = np.asarray(values, dtype=float)
    n_all = len(v)
    v = v[np.isfinite(v)]
    dropped = f"; {n_all - len(v):,} not finite, left out" if len(v) < n_all else ""
    if len(v) == 0:
        return np.zeros(0, int), np.zeros(0), f"no finite value among {n_all:,}"
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):
        half = 0.5 * max(abs(lo) * 1e-3, 1e-3)
        edges = np.array([lo - half, lo + half])
        what = "the one value" if len(v) == 1 else f"all {len(v):,} values are equal"
        return np.array([len(v)]), edges, f"{what}: {lo:.6g}{dropped}"
    for k in (bins, 10, 1):
        try:
            counts, edges = np.histogram(v, bins=k)
        except ValueError:  # the range is too narrow for k finite-sized bins
            continue
        return counts, edges, (f"{k} bins (a narrow range){dropped}" if k != bins else
                               (dropped[2:] or None))
    raise AssertionError("unreachable: one bin always fits a finite range")


def _hist_bar(values: np.ndarray, bins: int = 50):
    """The bar trace of ``histogram`` and its note."""
    import plotly.graph_objects as go

    counts, edges, note = histogram(values, bins)
    centers = (edges[:-1] + edges[1:]) / 2
    return go.Bar(x=centers, y=counts, width=np.diff(edges), marker_color="#4c78a8",
                  showlegend=False,
                  hovertemplate="%{x:.3f}: %{y} runs<extra></extra>"), note


def _distributions_fig(report: ExperimentReport):
    """The three test-metric histograms and a note per histogram that is not plain."""
    from plotly.subplots import make_subplots

    runs = report.runs[report.runs["status"] == "done"]
    specs = (("test_sharpe", "Test Sharpe"), ("test_cagr_pct", "Test CAGR (%)"),
             ("test_max_drawdown_pct", "Test max drawdown (%)"))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in specs])
    notes = []
    for k, (column, title) in enumerate(specs):
        bar, note = _hist_bar(runs[column].to_numpy(dtype=float))
        fig.add_trace(bar, 1, k + 1)
        if note:
            notes.append(f"{title}: {note}")
        fig.update_yaxes(title_text="runs" if k == 0 else None, row=1, col=k + 1)
    fig.update_layout(title=f"Distributions over {len(runs):,} done runs (up to 50 bins)",
                      height=380, bargap=0)
    return fig, notes


def _logits_fig(report: ExperimentReport):
    """Histogram of the CSCV logits (red: the in-sample best below the out-of-sample median)."""
    pbo = report.overfitting.pbo
    return _signed_histogram(
        np.asarray(pbo.logits, dtype=float), 40, centers_red=lambda c: c <= 0,
        hover="λ %{x:.2f}: %{y} splits", x_title="λ", y_title="splits",
        title=f"CSCV logits λ over {pbo.n_splits:,} splits (red: in-sample best below the "
              "out-of-sample median)")


def _cpcv_fig(cpcv: dict):
    """Histogram of the CPCV backtest paths' out-of-sample Sharpe ratios (red: below 0)."""
    return _signed_histogram(
        np.array(cpcv["path_sharpe"], dtype=float), 30, centers_red=lambda c: c < 0,
        hover="Sharpe %{x:.2f}: %{y} paths", x_title="annualised Sharpe", y_title="paths",
        title=f"CPCV: out-of-sample Sharpe of {cpcv['n_paths']:,} paths ({cpcv['folds']} "
              f"folds, {cpcv['test_folds']} test)")


def _signed_histogram(values: np.ndarray, bins: int, *, centers_red, hover: str,
                      x_title: str, y_title: str, title: str):
    """A histogram around 0 (dashed line), its bars red where ``centers_red(center)``."""
    import plotly.graph_objects as go

    counts, edges, note = histogram(values, bins)
    if len(counts) == 0:
        return None
    centers = (edges[:-1] + edges[1:]) / 2
    colors = np.where(centers_red(centers), "#d62728", "#4c78a8")
    fig = go.Figure(go.Bar(x=centers, y=counts, width=np.diff(edges), marker_color=colors,
                           hovertemplate=hover + "<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="#333")
    fig.update_layout(title=title + (f" — {note}" if note else ""), height=360, bargap=0,
                      xaxis={"title": x_title}, yaxis={"title": y_title})
    return fig


def _equity_fig(report: ExperimentReport, curve):
    from otonom_trader.adapters.equity_plot import equity_figure

    equity, close = curve
    run = int(report.best["run_number"])
    fig = equity_figure(equity, close, title=f"Best run #{run}: equity vs buy & hold, "
                                             "train start → test end")
    test_start = report.info.split["test_start"]
    fig.add_vline(x=pd.Timestamp(test_start).strftime("%Y-%m-%d"), line_dash="dash",
                  line_color="#555")
    return fig


# -- sections ----------------------------------------------------------------------------


def _overfit_list(report: ExperimentReport) -> str:
    o, runs = report.overfitting, report.runs
    done = runs[(runs["status"] == "done") & (runs["sharpe_gap"] > o.gap_threshold)]
    if done.empty:
        return f'<p class="ok">No run has a train−test Sharpe gap > {o.gap_threshold:g}.</p>'
    listed = done.sort_values(["sharpe_gap", "run_number"], ascending=[False, True]).head(
        MAX_LISTED)
    return (f"<p>{o.n_overfit:,} of {o.n_compared:,} runs ({o.overfit_share:.1%}) have a "
            f"train−test Sharpe gap > {o.gap_threshold:g}; the {len(listed)} largest:</p>"
            + _runs_table(listed, report.parameters, "overfit-runs",
                          gap_threshold=o.gap_threshold))


def _stats_html(report: ExperimentReport) -> str:
    o = report.overfitting
    ppy = math.sqrt(report.info.periods_per_year)
    items = []
    if o.dsr is not None:
        d = o.dsr
        items.append(("Deflated Sharpe Ratio (best run)",
                      f"{_f(d.dsr)} — P(true Sharpe > SR₀); annualised SR {_f(d.sharpe * ppy)}"
                      f", SR₀ {_f(d.sharpe_0 * ppy)} over N = {d.n_trials:,} trials, "
                      f"T = {d.n_obs:,} returns, skew {_f(d.skew, '.2f')}, "
                      f"kurtosis {_f(d.kurtosis, '.2f')}"))
    else:
        items.append(("Deflated Sharpe Ratio (best run)", "not computed (see notes)"))
    items.append(("V[SR] (per-period test Sharpe)", _f(o.sharpe_variance, ".3e")))
    if o.pbo is not None:
        p = o.pbo
        items.append(("Probability of Backtest Overfitting",
                      f"{_f(p.pbo)} — CSCV over {p.n_splits:,} splits of {p.n_blocks} blocks, "
                      f"{p.n_runs:,} runs"))
    else:
        items.append(("Probability of Backtest Overfitting", "not computed (see notes)"))
    if getattr(o, "cpcv", None) is not None:
        items.append(("CPCV out-of-sample Sharpe (best-train-Sharpe selection)",
                      "; ".join(cpcv_lines(o.cpcv))))
    btl = "n/a" if o.min_backtest_years is None else (
        f"{_f(o.min_backtest_years, '.1f')} years for N = {o.n_trials:,} trials (test window "
        f"{o.test_years:.1f} years, train window {o.train_years:.1f} years)")
    items.append(("Minimum backtest length", btl))
    items.append(("Best run train−test Sharpe gap", _f(o.best_gap)))
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"


def report_html(report: ExperimentReport, curve=None, extra_notes: Iterable[str] = (),
                max_points: int = MAX_POINTS, seed: int = SEED) -> str:
    """The whole page. ``curve`` is the best run's (equity, close) over train start..test end,
    or None when it could not be re-run."""
    from plotly.offline import get_plotlyjs

    notes = [*report.notes, *extra_notes]
    o = report.overfitting
    effects = report.effects[:MAX_PARAMS_PLOTTED]
    parts: dict[str, list[str]] = {key: [] for key, _ in SECTIONS}

    parts["summary"].append(_summary_html(report))
    parts["top-results"].append(
        f"<p>Top {len(report.top)} done runs by test {_e(report.sort_by)} "
        f"(gap = train − test Sharpe).</p>"
        + _runs_table(report.top, report.parameters, "top-runs", report.sort_by,
                      report.overfitting.gap_threshold))
    if getattr(report, "pareto", None) is not None:
        parts["top-results"].append(_pareto_html(report, max_points, seed))

    pa = parts["parameter-analysis"]
    if effects:
        ranking = "".join(
            f"<tr><td>{i}</td><td class=l>{_e(e.path)}</td><td>{e.importance:.3f}</td>"
            f"<td>{len(e.labels)}{' (quantile bins)' if e.binned else ''}</td></tr>"
            for i, e in enumerate(report.effects, start=1))
        pa.append("<table id=\"parameter-ranking\"><thead><tr><th>Rank</th><th class=l>"
                  "Parameter</th><th>η² on test Sharpe</th><th>Levels</th></tr></thead>"
                  f"<tbody>{ranking}</tbody></table>")
        if len(report.effects) > MAX_PARAMS_PLOTTED:
            pa.append(f'<p class="note">Plots show the {MAX_PARAMS_PLOTTED} most important '
                      "parameters.</p>")
        pa.append(_fig_html(_importance_fig(report), "fig-param-importance"))
        pa.append(_fig_html(_effects_fig(report, effects), "fig-param-effects"))
        if len(report.effects) >= 2:
            pa.append(_fig_html(_heatmap_fig(report), "fig-param-heatmap"))
        else:
            pa.append('<p class="note">One parameter only: no heatmap.</p>')
    else:
        pa.append('<p class="note">The experiment has no parameters.</p>')

    ov = parts["overfitting"]
    if o.warnings:
        ov.append("<ul>" + "".join(f'<li class="warn">⚠ {_e(w)}</li>' for w in o.warnings)
                  + "</ul>")
    else:
        ov.append('<p class="ok">✓ No overfitting warning.</p>')
    ov.append(_stats_html(report))
    scatter, sample_text = _scatter_fig(report, max_points, seed)
    ov.append(f'<p class="note" id="sampling-note">Scatter: {_e(sample_text)}.</p>')
    if scatter is not None:
        ov.append(_fig_html(scatter, "fig-train-test"))
    ov.append(_overfit_list(report))
    logits = _logits_fig(report) if o.pbo is not None else None
    cpcv = getattr(o, "cpcv", None)
    paths = _cpcv_fig(cpcv) if cpcv is not None and "path_sharpe" in cpcv else None
    pair = [_fig_html(fig, div) for fig, div in ((paths, CPCV_FIGURE),
                                                (logits, "fig-pbo-logits")) if fig is not None]
    if paths is not None:
        ov.append('<h3 id="cpcv">Combinatorial purged CV beside PBO</h3><div class="pair">'
                  + "".join(pair) + "</div>")
    else:
        ov.extend(pair)

    dist = parts["distributions"]
    dist_fig, dist_notes = _distributions_fig(report)
    dist.extend(f'<p class="note">{_e(n)}.</p>' for n in dist_notes)
    dist.append(_fig_html(dist_fig, "fig-distributions"))
    if effects and (box := _box_fig(report, effects)) is not None:
        dist.append(_fig_html(box, "fig-param-box"))
    elif effects:
        dist.append('<p class="note">No run has a finite test Sharpe: no box plot.</p>')

    best = parts["best-run"]
    best.append(f"<p>Run #{int(report.best['run_number'])}: "
                f"{_e(params_text(report.best, report.parameters))}</p>")
    if curve is not None:
        best.append('<p class="note">One continuous backtest from the train start to the test '
                    "end (the dashed line marks the test start); the test metrics above come "
                    "from a separate backtest that starts flat at the test start.</p>")
        best.append(_fig_html(_equity_fig(report, curve), "fig-best-equity"))
    else:
        best.append('<p class="note">The best run could not be re-run (see notes).</p>')

    if notes:
        parts["summary"].append("<h3>Notes</h3><ul>" + "".join(
            f'<li class="note">{_e(n)}</li>' for n in notes) + "</ul>")
    titles = {key: f"Top {len(report.top)} Results" if key == "top-results" else title
              for key, title in SECTIONS}
    nav = "".join(f'<a href="#{key}">{_e(titles[key])}</a>' for key, _ in SECTIONS)
    body = "".join(f'<section id="{key}"><h2>{_e(titles[key])}</h2>{"".join(parts[key])}'
                   "</section>" for key, _ in SECTIONS)
    s = report.summary
    title = f"Experiment {s.id}: {s.name}"
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{CSS}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head>"
            f"<body><header><h1>{_e(title)}</h1><div>{_e(s.strategy_name)} on {_e(s.symbol)}"
            f" · {s.done:,} done runs</div></header><nav>{nav}</nav>{body}</body></html>\n")


# -- walk-forward ------------------------------------------------------------------------


def walk_forward_html(record: dict, hold: pd.Series | None) -> str:
    """A walk-forward's page: settings, the folds table, the stitched out-of-sample figures
    and equity against ``hold``, buying and holding over the same test windows (plotly.js
    embedded, opens offline)."""
    import plotly.io as pio

    from otonom_trader.adapters.equity_plot import equity_figure

    s, r = record["settings"], record["result"]
    stitched = pd.Series(r["stitched"]["equity"], index=pd.to_datetime(r["stitched"]["dates"]))
    fig = equity_figure(stitched, hold, title="Stitched out-of-sample equity vs buy & hold")
    heads = ("Fold", "Experiment", "Train", "Test", "Parameters", "IS Sharpe", "OOS Sharpe",
             "OOS CAGR", "WFE")
    rows = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in (
            f["fold"], f["experiment_id"], _e(f"{f['train_start']} → {f['train_end']}"),
            _e(f"{f['test_start']} → {f['test_end']}"),
            _e(", ".join(f"{k}={v}" for k, v in f["params"].items())),
            _f(f["train_sharpe"], ".2f"), _f(f["test_sharpe"], ".2f"),
            _f(f["test_cagr_pct"], "+.1f", "%"), _f(f["wfe"], ".2f"))) + "</tr>"
        for f in r["folds"])
    o = r["oos"]
    figures = (f"Stitched OOS Sharpe {_f(o['sharpe'])} (t = {_f(o['t_stat'], '.2f')}, "
               f"PSR(0) = {_f(o['psr'])}); CAGR {_f(o['cagr_pct'], '+.2f', '%')}, max drawdown "
               f"{_f(o['max_drawdown_pct'], '.1f', '%')}; walk-forward efficiency "
               f"{_f(r['wfe'], '.2f')}; buy & hold {_f(r['buy_hold_return_pct'], '+.1f', '%')}")
    stability = "".join(
        f"<li>{_e(path)}: {_e(' → '.join(map(str, v['values'])))} (mode share "
        f"{_f(100 * v['mode_share'], '.0f', '%')})</li>" for path, v in r["stability"].items())
    title = _e(f"Walk-forward {record['id']}: {record['name']}")
    kind = "anchored" if s["anchored"] else "rolling"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{_e(s['symbol'])}, {kind}: train {s['train_years']:g} "
            f"y, test {s['test_years']:g} y, step {s['step_years']:g} y, gap {s['gap_days']} "
            f"days; selection: best train {_e(s['select_by'])}</p><p>{figures}</p>"
            f"<table border='1' cellpadding='4'><tr>{''.join(f'<th>{h}</th>' for h in heads)}"
            f"</tr>{rows}</table><h2>Parameter paths</h2><ul>{stability}</ul>"
            + pio.to_html(fig, full_html=False, include_plotlyjs=True, div_id="wf-equity")
            + "</body></html>\n")
