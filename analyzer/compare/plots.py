"""Plots of an outcome comparison (matplotlib on the Agg canvas, returned as base64 PNG)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..metrics.catalog import metric_info
from .loading import TRAJECTORY_PREFIX
from .stats import ALPHA_Q, ComparisonResult


def _png(fig) -> str:
    import base64
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _new_figure(width_in: float, height_in: float):
    """A matplotlib Figure on the Agg canvas (no pyplot, no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    return fig


def _group_order(result: ComparisonResult) -> list:
    if result.kind == "binary":
        return [result.positive, result.negative]
    return sorted(result.data["outcome"].unique())


def plot_distributions(result: ComparisonResult, metrics: list[str]) -> str | None:
    """Box plots with the calls as dots, one panel per metric, by outcome; base64 PNG or None."""
    if not metrics:
        return None
    groups = _group_order(result)
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = _new_figure(4.2 * ncols, 3.2 * nrows)
    rng = np.random.default_rng(0)
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        info = metric_info(metric)
        series = [result.data.loc[result.data["outcome"] == g, metric].dropna().to_numpy(dtype=float) for g in groups]
        keep = [i for i, s in enumerate(series) if s.size]
        if not keep:
            continue
        ax.boxplot([series[i] for i in keep], positions=keep, widths=0.5, showfliers=False)
        for i in keep:
            ax.scatter(i + rng.uniform(-0.15, 0.15, series[i].size), series[i], s=10, alpha=0.55,
                       color="#1f5fa8" if (result.kind != "binary" or i == 0) else "#c0392b")
        ax.set_xticks(range(len(groups)), [str(g) for g in groups])
        unit = {"share": "share", "count": "count"}.get(info.unit, info.unit)
        ax.set_title(f"{info.label}", fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig)


def plot_forest(result: ComparisonResult, *, max_metrics: int = 30) -> str | None:
    """Effect sizes (Cliff's delta or Spearman rho) with 95% CIs, significant ones filled; base64 PNG."""
    effect = "delta" if result.kind == "binary" else "rho"
    stats = result.stats.dropna(subset=[effect]).head(max_metrics) if len(result.stats) else result.stats
    if stats is None or stats.empty:
        return None
    stats = stats.iloc[::-1]
    fig = _new_figure(7.5, 0.3 * len(stats) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(stats))
    est = stats[effect].to_numpy(dtype=float)
    low = stats[f"{effect}_ci_low"].to_numpy(dtype=float)
    high = stats[f"{effect}_ci_high"].to_numpy(dtype=float)
    sig = (stats["q"] < ALPHA_Q).to_numpy()
    err = np.vstack([np.where(np.isnan(low), 0, est - low), np.where(np.isnan(high), 0, high - est)])
    ax.errorbar(est, y, xerr=err, fmt="none", ecolor="#888", elinewidth=1, capsize=2)
    ax.scatter(est[sig], y[sig], color="#c0392b", zorder=3, label=f"q < {ALPHA_Q}")
    ax.scatter(est[~sig], y[~sig], facecolor="white", edgecolor="#555", zorder=3, label="not significant")
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_yticks(y, [metric_info(m).label for m in stats["metric"]], fontsize=8)
    ax.set_xlim(-1.05, 1.05)
    if result.kind == "binary":
        ax.set_xlabel(f"Cliff's delta ({result.positive} vs {result.negative}); > 0: higher in {result.positive} calls")
    else:
        ax.set_xlabel("Spearman rho with the outcome")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def trajectory_table(result: ComparisonResult) -> pd.DataFrame | None:
    """Mean customer valence per tenth of the call and outcome (rows: outcome, columns: slice), or None."""
    cols = [c for c in result.data.columns if c.startswith(TRAJECTORY_PREFIX)]
    if not cols or result.data[cols].notna().sum().sum() == 0:
        return None
    return result.data.groupby("outcome")[cols].mean()


def plot_trajectory(result: ComparisonResult) -> str | None:
    """Customer valence over normalised call time by outcome: mean and 95% CI band; base64 PNG or None."""
    cols = [c for c in result.data.columns if c.startswith(TRAJECTORY_PREFIX)]
    if trajectory_table(result) is None:
        return None
    fig = _new_figure(7.5, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    x = (np.arange(len(cols)) + 0.5) / len(cols) * 100
    for group in _group_order(result):
        block = result.data.loc[result.data["outcome"] == group, cols]
        mean, n = block.mean().to_numpy(dtype=float), block.notna().sum().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            se = block.std(ddof=1).to_numpy(dtype=float) / np.sqrt(n)
        ax.plot(x, mean, marker="o", ms=3, label=f"{group} (n={len(block)})")
        ax.fill_between(x, mean - 1.96 * se, mean + 1.96 * se, alpha=0.15)
    ax.axhline(0, color="#333", lw=0.6)
    ax.set_xlabel("% of the call")
    ax.set_ylabel("customer valence (mean of turns)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)
