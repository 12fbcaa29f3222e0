"""The comparison report: ``report.html`` (with the plots), ``findings.md`` and ``stats.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..metrics.catalog import format_value, metric_info
from .plots import plot_distributions, plot_forest, plot_trajectory
from .stats import ALPHA_Q, ComparisonResult


def _stats_for_output(result: ComparisonResult) -> pd.DataFrame:
    stats = result.stats.copy()
    for col in stats.columns:
        if pd.api.types.is_float_dtype(stats[col]) and col not in ("p", "q"):
            stats[col] = stats[col].round(6)
    return stats


def findings_markdown(result: ComparisonResult) -> str:
    """The findings, the classifier and the warnings as Markdown."""
    lines = ["# Outcome comparison", ""]
    sizes = ", ".join(f"{n} {g}" for g, n in result.group_sizes.items())
    lines += [f"Calls compared: {sizes}.", ""]
    if result.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in result.warnings] + [""]
    lines += ["## Findings (Benjamini-Hochberg q < 0.05)", ""]
    lines += [f"- {f.text}" for f in result.findings] or ["- No metric differs significantly."]
    lines.append("")
    clf = result.classifier
    if clf is not None:
        top = ", ".join(f"{metric_info(m).label} ({c:+.2f})" for m, c in clf.coefficients[:5])
        lines += ["## How well the metrics separate the outcomes", "",
                  f"A logistic regression on {len(clf.metrics)} standardised metrics, {clf.n_splits}-fold "
                  f"cross-validated, reaches AUC {clf.auc:.2f} (95% CI {clf.auc_ci_low:.2f}-{clf.auc_ci_high:.2f}; "
                  "0.5 = chance, 1 = perfect).", "",
                  f"Largest standardised coefficients (log-odds of {result.positive} per SD): {top}.", ""]
    return "\n".join(lines)


def write_report(result: ComparisonResult, out_dir: str | Path, *, top_n: int = 6) -> dict[str, Path]:
    """Write ``report.html`` (with embedded plots), ``findings.md`` and ``stats.csv`` into ``out_dir``."""
    from ..outputs.html import render
    from ..outputs.writers import neutralise_csv_frame

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = _stats_for_output(result)
    neutralise_csv_frame(stats).to_csv(out_dir / "stats.csv", index=False)
    (out_dir / "findings.md").write_text(findings_markdown(result), encoding="utf-8")
    effect = "delta" if result.kind == "binary" else "rho"
    top = [f.metric for f in result.findings[:top_n]]
    if not top and len(stats):
        top = list(stats.dropna(subset=[effect])["metric"].head(min(top_n, 3)))
    plots = [
        ("Distributions by outcome" + ("" if result.findings else " (largest effects, not significant)"),
         plot_distributions(result, top)),
        ("Effect sizes with 95% bootstrap CIs", plot_forest(result)),
        ("Customer emotion over the call", plot_trajectory(result)),
    ]
    table = []
    for row in stats.to_dict("records"):
        info = metric_info(row["metric"])
        cells = {"metric": row["metric"], "label": info.label, "q": row["q"], "p": row["p"],
                 "effect": row[effect], "ci": (row[f"{effect}_ci_low"], row[f"{effect}_ci_high"]),
                 "missing": row["missing_share"]}
        if result.kind == "binary":
            cells["groups"] = [(row[f"n_{g}"], format_value(row[f"median_{g}"], info.unit),
                                format_value(row[f"q1_{g}"], info.unit), format_value(row[f"q3_{g}"], info.unit))
                               for g in (result.positive, result.negative)]
        else:
            cells["groups"] = [(row["n"], format_value(row["median"], info.unit), format_value(row["q1"], info.unit),
                                format_value(row["q3"], info.unit))]
        table.append(cells)
    groups = [result.positive, result.negative] if result.kind == "binary" else ["all labelled calls"]
    html = render("report.html.j2", result=result, plots=[(t, p) for t, p in plots if p], table=table,
                  groups=groups, effect_name="Cliff's delta" if result.kind == "binary" else "Spearman rho",
                  metric_info=metric_info, alpha=ALPHA_Q)
    (out_dir / "report.html").write_text(html, encoding="utf-8")
    return {"report": out_dir / "report.html", "findings": out_dir / "findings.md", "stats": out_dir / "stats.csv"}
