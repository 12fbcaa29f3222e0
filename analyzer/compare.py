"""Outcome comparison: which pacing and emotion metrics differ between won and lost calls.

Input is a results folder written by ``call-analyzer analyze`` (``calls/**/*.json``,
schema ``call-analyzer/call/1``) and one outcome label per call. Output is a
:class:`ComparisonResult` (per-metric statistics, a cross-validated classifier,
plain-words findings, warnings) and, from it, ``report.html``, ``findings.md``
and ``stats.csv``.

Statistics (all from scipy / scikit-learn):

* two outcomes: per metric n, median and IQR per group, Cliff's delta
  (P(pos > neg) - P(pos < neg), from the Mann-Whitney U statistic) with a
  percentile bootstrap CI, the two-sided Mann-Whitney U p-value and the
  Benjamini-Hochberg q-value over all tested metrics; a standardised logistic
  regression, stratified k-fold cross-validated, with its out-of-fold AUC and
  a stratified bootstrap CI of that AUC.
* a numeric outcome with more than two levels (e.g. CSAT 1-5): Spearman's rho
  per metric with a bootstrap CI, its p-value and the BH q-value.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .catalog import format_value, metric_info
from .errors import AnalyzerError

MIN_GROUP_N = 10
"""Groups smaller than this get a warning instead of findings."""
MAX_MISSING_SHARE = 0.5
"""Metrics missing (null) in more than this share of calls are not tested."""
ALPHA_Q = 0.05
"""Findings need a Benjamini-Hochberg q-value below this."""
TRAJECTORY_BINS = 10
"""Customer valence is averaged in this many equal slices of normalised call time."""
TRAJECTORY_PREFIX = "traj_customer_valence_"
_META_COLUMNS = ("path", "qa_score", "mode", "outcome")
_GOOD_LABELS = ("won", "win", "success", "successful", "sale", "sold", "yes", "true", "good", "positive",
                "resolved", "converted", "closed_won", "1")


class ResultsError(AnalyzerError):
    """A results folder or a labels file cannot be used for a comparison."""


# --------------------------------------------------------------------------- loading


def _trajectory(turns: list[dict], duration_s: float | None, *, n_bins: int = TRAJECTORY_BINS) -> list[float]:
    """Mean customer valence per slice of normalised call time (NaN where no scored turn).

    A turn belongs to the slice holding its midpoint.
    """
    sums, counts = np.zeros(n_bins), np.zeros(n_bins)
    if not duration_s or duration_s <= 0:
        return [math.nan] * n_bins
    for turn in turns or []:
        valence = turn.get("valence")
        if turn.get("speaker") != "customer" or valence is None:
            continue
        mid_s = 0.5 * (float(turn["start_s"]) + float(turn["end_s"]))
        k = min(n_bins - 1, max(0, int(mid_s / duration_s * n_bins)))
        sums[k] += float(valence)
        counts[k] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return list(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))


def _numeric(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return math.nan


def result_row(result: dict) -> dict[str, Any]:
    """One flat row (call_id, path, metrics, qa_score, valence trajectory) from one call result dict."""
    row: dict[str, Any] = {"call_id": str(result["call_id"]), "path": result.get("path"), "mode": result.get("mode")}
    for key, value in (result.get("metrics") or {}).items():
        row[key] = _numeric(value)
    qa = result.get("qa") or {}
    row["qa_score"] = _numeric(qa.get("score")) if isinstance(qa, dict) else math.nan
    duration_s = (result.get("metrics") or {}).get("duration_s") or result.get("duration_s")
    for k, value in enumerate(_trajectory(result.get("turns") or [], duration_s)):
        row[f"{TRAJECTORY_PREFIX}{k:02d}"] = value
    return row


def iter_result_files(results_dir: str | Path) -> list[Path]:
    """``calls/**/*.json`` under ``results_dir`` (or ``results_dir/**/*.json`` if it has no ``calls`` folder)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultsError("results folder not found; pass the --out folder of 'call-analyzer analyze'",
                           path=str(root))
    calls = root / "calls"
    files = sorted((calls if calls.is_dir() else root).rglob("*.json"))
    if not files:
        raise ResultsError("no calls/*.json results in this folder; run 'call-analyzer analyze' into it first",
                           path=str(root))
    return files


def read_result(path: Path) -> dict:
    """One call result JSON; a file that is not a call result raises :class:`ResultsError`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"not a readable JSON result ({exc}); re-run the analysis for this call",
                           path=str(path)) from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("call-analyzer/call/") \
            or "call_id" not in data:
        raise ResultsError("not a call-analyzer call result (no schema/call_id); remove it from the folder",
                           path=str(path))
    return data


def load_results(results_dir: str | Path) -> pd.DataFrame:
    """One row per call (index ``call_id``): every metric, ``qa_score``, ``path`` and the
    customer valence trajectory (columns ``traj_customer_valence_00`` .. ``_09``, mean valence
    per tenth of the call, NaN when emotion is off).

    Unreadable files are skipped and listed in ``df.attrs["skipped"]`` as one-line messages.
    """
    rows, skipped = [], []
    for path in iter_result_files(results_dir):
        try:
            rows.append(result_row(read_result(path)))
        except ResultsError as exc:
            skipped.append(exc.one_line())
    if not rows:
        raise ResultsError("none of the JSON files is a readable call result: " + "; ".join(skipped[:3]),
                           path=str(results_dir))
    df = pd.DataFrame(rows).set_index("call_id")
    if df.index.duplicated().any():
        dup = df.index[df.index.duplicated()][0]
        raise ResultsError(f"call_id {dup!r} appears in more than one result file; keep one", path=str(results_dir))
    df.attrs["skipped"] = skipped
    return df


def read_labels(path: str | Path) -> pd.Series:
    """Outcome per call from a CSV with columns ``call_id,outcome`` (index call_id, values str)."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise ResultsError("labels file not found", path=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ResultsError(f"labels file is not a CSV ({' '.join(str(exc).split())}); "
                           "write a header line 'call_id,outcome' and one call per line", path=str(path)) from None
    missing = {"call_id", "outcome"} - set(table.columns)
    if missing:
        raise ResultsError(f"labels CSV lacks column(s) {', '.join(sorted(missing))}; "
                           f"found {', '.join(table.columns)}; the header must be 'call_id,outcome'", path=str(path))
    table = table[(table["call_id"].str.strip() != "") & (table["outcome"].str.strip() != "")]
    series = pd.Series(table["outcome"].str.strip().values, index=table["call_id"].str.strip().values, name="outcome")
    dup = series.index[series.index.duplicated()]
    if len(dup):
        raise ResultsError(f"call_id {dup[0]!r} has more than one label; keep one line per call", path=str(path))
    return series


def match_labels(labels: pd.Series, call_ids: pd.Index) -> pd.Series:
    """Labels re-keyed to the results' call_ids; a label written with the audio extension
    (``a/b.wav``) or a leading ``./`` still matches call_id ``a/b``."""
    known = set(call_ids)
    out = {}
    for key, value in labels.items():
        key = str(key).replace("\\", "/")
        candidates = [key, key.removeprefix("./"), os.path.splitext(key.removeprefix("./"))[0]]
        hit = next((c for c in candidates if c in known), None)
        if hit is not None:
            out[hit] = value
    return pd.Series(out, name="outcome", dtype=object)


def labels_by_folder(call_ids: pd.Index) -> pd.Series:
    """Outcome = first path component of the call_id (``won/2024/call1`` -> ``won``); calls at the top are unlabelled."""
    out = {cid: cid.split("/", 1)[0] for cid in call_ids if "/" in cid}
    return pd.Series(out, name="outcome", dtype=object)


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Finding:
    """One significant difference, in words and numbers."""

    metric: str
    text: str
    effect: float  # Cliff's delta (binary) or Spearman rho (ordinal)
    q: float


@dataclass(frozen=True)
class ClassifierResult:
    """Cross-validated logistic regression on standardised metrics.

    auc: out-of-fold ROC AUC; auc_ci_low/high: stratified bootstrap 95% CI of it.
    coefficients: (metric, standardised coefficient) pairs from the fit on all calls,
        largest magnitude first; log-odds of the positive outcome per standard deviation.
    """

    auc: float
    auc_ci_low: float
    auc_ci_high: float
    n_splits: int
    metrics: tuple[str, ...]
    coefficients: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ComparisonResult:
    """Everything :func:`write_report` needs; ``stats`` has one row per metric, ranked by |effect|."""

    kind: str  # "binary" or "ordinal"
    positive: str | None
    negative: str | None
    group_sizes: dict[str, int]
    stats: pd.DataFrame
    classifier: ClassifierResult | None
    findings: tuple[Finding, ...]
    warnings: tuple[str, ...]
    data: pd.DataFrame = field(repr=False)  # calls with an "outcome" column, as compared


def _cliffs_delta(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Cliff's delta of x over y along ``axis`` (vectorised; uses the Mann-Whitney U statistic)."""
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(x, y, axis=axis, method="asymptotic", use_continuity=False).statistic
    return 2.0 * u / (x.shape[axis] * y.shape[axis]) - 1.0


def _bootstrap_ci(data: tuple[np.ndarray, ...], statistic, *, n_boot: int, seed: int, paired: bool = False,
                  ) -> tuple[float, float]:
    """Percentile 95% bootstrap CI via scipy.stats.bootstrap (NaN, NaN when degenerate)."""
    from scipy.stats import bootstrap

    if n_boot <= 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = bootstrap(data, statistic, n_resamples=n_boot, method="percentile", paired=paired,
                            vectorized=True, axis=-1, batch=200, random_state=np.random.default_rng(seed))
        except ValueError:
            return math.nan, math.nan
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _iqr(values: np.ndarray) -> tuple[float, float, float]:
    if values.size == 0:
        return math.nan, math.nan, math.nan
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return float(med), float(q1), float(q3)


def _bh(pvalues: pd.Series) -> pd.Series:
    """Benjamini-Hochberg q-values (scipy.stats.false_discovery_control); NaN p stays NaN."""
    from scipy.stats import false_discovery_control

    q = pd.Series(np.nan, index=pvalues.index)
    valid = pvalues.notna()
    if valid.any():
        q[valid] = false_discovery_control(pvalues[valid].to_numpy(dtype=float), method="bh")
    return q


def candidate_metrics(calls_df: pd.DataFrame) -> list[str]:
    """Metric columns to compare: numeric, not metadata, not trajectory, not excluded in the catalogue."""
    out = []
    for col in calls_df.columns:
        if col in _META_COLUMNS or col.startswith(TRAJECTORY_PREFIX):
            continue
        if not pd.api.types.is_numeric_dtype(calls_df[col]):
            continue
        if not metric_info(col).compare:
            continue
        out.append(col)
    return out


def _choose_positive(levels: list[str]) -> str:
    for good in _GOOD_LABELS:
        for level in levels:
            if level.lower() == good:
                return level
    return sorted(levels)[0]


def _is_ordinal(outcome: pd.Series) -> bool:
    numeric = pd.to_numeric(outcome, errors="coerce")
    return bool(numeric.notna().all() and numeric.nunique() > 2)


def _stats_table(rows: list[dict], too_sparse: list[str], warns: list[str], *, rank_by: str) -> pd.DataFrame:
    """Per-metric rows -> table with BH q-values, ranked by |``rank_by``|; notes untested sparse metrics in ``warns``."""
    if not rows:
        raise ResultsError("the results have no numeric metrics to compare; check that they are call-analyzer results")
    stats = pd.DataFrame(rows)
    if too_sparse:
        warns.append(f"Not tested, missing in more than {MAX_MISSING_SHARE:.0%} of calls: {', '.join(too_sparse)}.")
    stats["q"] = _bh(stats["p"])
    return _rank(stats, rank_by)


def compare_outcomes(calls_df: pd.DataFrame, outcomes: pd.Series, *, positive: str | None = None,
                     n_boot: int = 2000, seed: int = 0, min_group_n: int = MIN_GROUP_N) -> ComparisonResult:
    """Compare calls by outcome, metric by metric, and with a cross-validated classifier.

    calls_df: from :func:`load_results` (index call_id). outcomes: label per call_id
    (calls without one are left out). Two levels -> Cliff's delta / Mann-Whitney / AUC with
    ``positive`` as the good outcome (default: a recognisable good word like 'won', else the
    alphabetically first); a numeric outcome with more than two levels (CSAT 1-5) -> Spearman.
    n_boot: bootstrap resamples for the CIs (0 skips them); seed makes them reproducible.
    """
    outcomes = outcomes.dropna().astype(str).str.strip()
    outcomes = outcomes[outcomes != ""]
    common = calls_df.index.intersection(outcomes.index)
    notes: list[str] = []
    n_unlabelled = len(calls_df.index) - len(common)
    if n_unlabelled:
        notes.append(f"{n_unlabelled} of {len(calls_df)} calls have no outcome label and are left out.")
    n_orphan = len(outcomes.index.difference(calls_df.index))
    if n_orphan:
        notes.append(f"{n_orphan} labelled call(s) have no result in the results folder.")
    if len(common) == 0:
        raise ResultsError("no call has an outcome label: check that the labels' call_id column matches the "
                           "results' call_ids (path relative to the input root, without extension)")
    data = calls_df.loc[common].copy()
    data["outcome"] = outcomes.loc[common]
    levels = sorted(data["outcome"].unique())
    if len(levels) < 2:
        raise ResultsError(f"only one outcome among the labelled calls ({levels[0]!r}); two are needed to compare")
    if _is_ordinal(data["outcome"]) and (positive is None or positive not in levels):
        return _compare_ordinal(data, notes, n_boot=n_boot, seed=seed, min_group_n=min_group_n)
    if len(levels) > 2:
        if positive is None or positive not in levels:
            raise ResultsError(f"{len(levels)} outcomes ({', '.join(levels[:6])}); pass --positive LABEL to compare "
                               "one against all others, or a numeric outcome for a rank correlation")
        notes.append(f"{len(levels)} outcomes: {positive!r} is compared with all others together.")
    if positive is None:
        positive = _choose_positive(levels)
        notes.append(f"positive outcome taken as {positive!r}; pass --positive to choose another.")
    elif positive not in levels:
        raise ResultsError(f"--positive {positive!r} is not an outcome in the labels; outcomes: {', '.join(levels)}")
    others = [lv for lv in levels if lv != positive]
    negative = others[0] if len(others) == 1 else "other"
    is_pos = (data["outcome"] == positive).to_numpy()
    data["outcome"] = np.where(is_pos, positive, negative)
    return _compare_binary(data, is_pos, positive, negative, notes, n_boot=n_boot, seed=seed, min_group_n=min_group_n)


def _compare_binary(data: pd.DataFrame, is_pos: np.ndarray, positive: str, negative: str, notes: list[str], *,
                    n_boot: int, seed: int, min_group_n: int) -> ComparisonResult:
    from scipy.stats import mannwhitneyu

    n_pos, n_neg = int(is_pos.sum()), int((~is_pos).sum())
    small = min(n_pos, n_neg) < min_group_n
    warns = []
    if small:
        warns.append(f"Small groups: {n_pos} {positive} and {n_neg} {negative} calls. At least {min_group_n} "
                     "per group are needed before differences are reported as findings; the numbers below are "
                     "descriptive only.")
    rows, too_sparse = [], []
    for metric in candidate_metrics(data):
        values = data[metric].to_numpy(dtype=float)
        present = ~np.isnan(values)
        x, y = values[is_pos & present], values[~is_pos & present]
        missing_share = 1.0 - present.mean()
        info = metric_info(metric)
        row = {"metric": metric, "description": info.label, "unit": info.unit,
               f"n_{positive}": x.size, f"n_{negative}": y.size, "missing_share": round(missing_share, 3)}
        for name, arr in ((positive, x), (negative, y)):
            med, q1, q3 = _iqr(arr)
            row.update({f"median_{name}": med, f"q1_{name}": q1, f"q3_{name}": q3})
        row.update(delta=math.nan, delta_ci_low=math.nan, delta_ci_high=math.nan, p=math.nan)
        tested = missing_share <= MAX_MISSING_SHARE and x.size >= 2 and y.size >= 2
        if missing_share > MAX_MISSING_SHARE:
            too_sparse.append(metric)
        if tested and np.ptp(np.concatenate([x, y])) > 0:
            row["delta"] = float(_cliffs_delta(x, y))
            row["delta_ci_low"], row["delta_ci_high"] = _bootstrap_ci((x, y), _cliffs_delta, n_boot=n_boot, seed=seed)
            row["p"] = float(mannwhitneyu(x, y, alternative="two-sided").pvalue)
        rows.append(row)
    stats = _stats_table(rows, too_sparse, warns, rank_by="delta")
    findings = () if small else tuple(_binary_findings(stats, positive, negative))
    classifier = None
    usable = [m for m in stats["metric"] if m not in too_sparse and data[m].notna().any() and data[m].nunique() > 1]
    if min(n_pos, n_neg) >= 5 and usable:
        classifier = _classifier(data[usable], is_pos, n_boot=n_boot, seed=seed)
    else:
        warns.append("No classifier: it needs at least 5 calls per outcome.")
    return ComparisonResult("binary", positive, negative, {positive: n_pos, negative: n_neg}, stats, classifier,
                            findings, tuple(warns + notes), data)


def _rank(stats: pd.DataFrame, effect: str) -> pd.DataFrame:
    if stats.empty:
        return stats
    order = stats[effect].abs().fillna(-1).sort_values(ascending=False, kind="stable").index
    return stats.loc[order].reset_index(drop=True)


def _fmt_q(q: float) -> str:
    return f"{q:.1e}" if q < 0.001 else f"{q:.3f}"


def _binary_findings(stats: pd.DataFrame, positive: str, negative: str) -> list[Finding]:
    out = []
    for row in stats.to_dict("records"):
        q = row["q"]
        if not (q < ALPHA_Q) or math.isnan(row["delta"]):
            continue
        info = metric_info(row["metric"])
        a, b = row[f"median_{positive}"], row[f"median_{negative}"]
        diff = format_value(abs(a - b), info.unit, difference=True)
        if diff == format_value(0.0, info.unit, difference=True) or np.sign(a - b) != np.sign(row["delta"]):
            # medians equal, or pointing against the rank-based effect: describe the tendency only
            direction = "higher" if row["delta"] > 0 else "lower"
            lead = f"the {info.label} tends to be {direction} in {positive} calls (the medians do not show it)"
        else:
            template = info.higher if row["delta"] > 0 else info.lower
            lead = template.format(g=positive, d=diff)
        ci = ""
        if not math.isnan(row["delta_ci_low"]):
            ci = f" [{row['delta_ci_low']:+.2f}, {row['delta_ci_high']:+.2f}]"
        text = (f"{lead[0].upper()}{lead[1:]}: median {format_value(a, info.unit)} vs {format_value(b, info.unit)} "
                f"in {negative} calls, delta {row['delta']:+.2f}{ci}, q = {_fmt_q(q)}")
        out.append(Finding(row["metric"], text, float(row["delta"]), float(q)))
    return out


def _classifier(features: pd.DataFrame, is_pos: np.ndarray, *, n_boot: int, seed: int) -> ClassifierResult:
    """Standardise + logistic regression, stratified k-fold out-of-fold AUC and bootstrap CI."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = is_pos.astype(int)
    n_splits = int(min(5, y.sum(), (1 - y).sum()))
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    X = features.to_numpy(dtype=float)
    scores = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, scores))
    # AUC = P(score_pos > score_neg) = (Cliff's delta + 1) / 2: stratified bootstrap over calls
    low, high = _bootstrap_ci((scores[y == 1], scores[y == 0]), _cliffs_delta, n_boot=n_boot, seed=seed)
    model.fit(X, y)
    coefs = model[-1].coef_[0]
    pairs = sorted(zip(features.columns, coefs), key=lambda p: -abs(p[1]))
    return ClassifierResult(auc, (low + 1) / 2, (high + 1) / 2, n_splits, tuple(features.columns),
                            tuple((str(m), float(c)) for m, c in pairs))


def _compare_ordinal(data: pd.DataFrame, notes: list[str], *, n_boot: int, seed: int,
                     min_group_n: int) -> ComparisonResult:
    from scipy.stats import spearmanr

    y_all = pd.to_numeric(data["outcome"]).to_numpy(dtype=float)
    data["outcome"] = y_all
    warns = []
    small = len(data) < 2 * min_group_n
    if small:
        warns.append(f"Only {len(data)} labelled calls: at least {2 * min_group_n} are needed before correlations "
                     "are reported as findings; the numbers below are descriptive only.")

    def rho_stat(a, b, axis=-1):
        ra = np.argsort(np.argsort(a, axis=axis), axis=axis).astype(float)
        rb = np.argsort(np.argsort(b, axis=axis), axis=axis).astype(float)
        ra -= ra.mean(axis=axis, keepdims=True)
        rb -= rb.mean(axis=axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (ra * rb).sum(axis=axis) / np.sqrt((ra ** 2).sum(axis=axis) * (rb ** 2).sum(axis=axis))

    rows, too_sparse = [], []
    for metric in candidate_metrics(data):
        values = data[metric].to_numpy(dtype=float)
        present = ~np.isnan(values)
        missing_share = 1.0 - present.mean()
        info = metric_info(metric)
        med, q1, q3 = _iqr(values[present])
        row = {"metric": metric, "description": info.label, "unit": info.unit, "n": int(present.sum()),
               "missing_share": round(missing_share, 3), "median": med, "q1": q1, "q3": q3,
               "rho": math.nan, "rho_ci_low": math.nan, "rho_ci_high": math.nan, "p": math.nan}
        if missing_share > MAX_MISSING_SHARE:
            too_sparse.append(metric)
        elif present.sum() >= 3 and np.ptp(values[present]) > 0:
            x, y = values[present], y_all[present]
            res = spearmanr(x, y)
            row["rho"], row["p"] = float(res.statistic), float(res.pvalue)
            # ties are broken by order in the bootstrap statistic: CI is approximate with many ties
            row["rho_ci_low"], row["rho_ci_high"] = _bootstrap_ci((x, y), rho_stat, n_boot=n_boot, seed=seed,
                                                                  paired=True)
        rows.append(row)
    stats = _stats_table(rows, too_sparse, warns, rank_by="rho")
    findings = []
    if not small:
        for row in stats.to_dict("records"):
            if row["q"] < ALPHA_Q:
                info = metric_info(row["metric"])
                trend = "rises" if row["rho"] > 0 else "falls"
                findings.append(Finding(row["metric"], (
                    f"The {info.label} {trend} as the outcome rises: Spearman rho {row['rho']:+.2f} "
                    f"[{row['rho_ci_low']:+.2f}, {row['rho_ci_high']:+.2f}], q = {_fmt_q(row['q'])}"),
                    float(row["rho"]), float(row["q"])))
    sizes = {str(k): int(v) for k, v in pd.Series(y_all).value_counts().sort_index().items()}
    return ComparisonResult("ordinal", None, None, sizes, stats, None, tuple(findings), tuple(warns + notes), data)


# --------------------------------------------------------------------------- report


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
    from .html import render
    from .writers import neutralise_csv_frame

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


# --------------------------------------------------------------------------- command line


def register_commands(subparsers) -> None:
    """Add ``compare`` and ``score`` to the CLI's subparsers; each sets ``func(args) -> int``."""
    cmp = subparsers.add_parser(
        "compare", help="compare calls by outcome (won/lost, CSAT ...) on every metric",
        description="Compare analysed calls by outcome: per-metric statistics, a cross-validated classifier, "
                    "plain-words findings; writes report.html, findings.md and stats.csv.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cmp.add_argument("results_dir", metavar="RESULTS_DIR", help="the --out folder of 'call-analyzer analyze'")
    source = cmp.add_mutually_exclusive_group(required=True)
    source.add_argument("--labels", metavar="CSV", help="CSV with columns call_id,outcome")
    source.add_argument("--by-folder", action="store_true",
                        help="outcome = first folder of the call_id (input laid out as won/..., lost/...)")
    cmp.add_argument("--out", metavar="REPORT_DIR", required=True, help="folder for report.html, findings.md, stats.csv")
    cmp.add_argument("--positive", metavar="LABEL", default=None,
                     help="the good outcome (default: 'won', 'success', ... if present, else the first label)")
    cmp.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for confidence intervals")
    cmp.add_argument("--seed", type=int, default=0, help="random seed (bootstrap, cross-validation folds)")
    cmp.set_defaults(func=run_compare)

    score = subparsers.add_parser(
        "score", help="(re-)score analysed calls with a QA rules file",
        description="Evaluate a QA rules file on every call of a results folder; rewrites 'qa' in each "
                    "calls/<call_id>.json and the qa_score column of calls.csv/calls.parquet.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    score.add_argument("results_dir", metavar="RESULTS_DIR", help="the --out folder of 'call-analyzer analyze'")
    score.add_argument("--rules", metavar="FILE", default=None,
                       help="rules file (.toml or .yaml); default: the shipped analyzer/default_rules.toml")
    score.set_defaults(func=run_score)


def _report_error(exc: AnalyzerError) -> int:
    print(f"error: {exc.one_line()}", file=sys.stderr)
    return 2


def run_compare(args: argparse.Namespace) -> int:
    """``call-analyzer compare``: load results and labels, compare, write the report, print the findings."""
    try:
        calls = load_results(args.results_dir)
        for message in calls.attrs.get("skipped", []):
            print(f"skipped: {message}", file=sys.stderr)
        if args.by_folder:
            outcomes = labels_by_folder(calls.index)
            if outcomes.empty:
                raise ResultsError("no call_id has a folder, so --by-folder finds no outcome: analyse an input laid "
                                   "out as won/..., lost/... or pass --labels CSV", path=str(args.results_dir))
        else:
            outcomes = match_labels(read_labels(args.labels), calls.index)
        result = compare_outcomes(calls, outcomes, positive=args.positive, n_boot=args.n_boot, seed=args.seed)
        paths = write_report(result, args.out)
    except AnalyzerError as exc:
        return _report_error(exc)
    for warning in result.warnings:
        print(f"warning: {warning}")
    for finding in result.findings:
        print(f"- {finding.text}")
    if not result.findings:
        print("No significant differences (q < 0.05).")
    if result.classifier is not None:
        c = result.classifier
        print(f"Classifier AUC {c.auc:.2f} (95% CI {c.auc_ci_low:.2f}-{c.auc_ci_high:.2f})")
    print(f"Report: {paths['report']}")
    return 0


def rescore_results(results_dir: str | Path, rules) -> pd.DataFrame:
    """Evaluate ``rules`` (a :class:`analyzer.qa.RuleSet`) on every result in ``results_dir`` and
    rewrite what depends on the score: each JSON's ``qa``, calls.csv/.parquet and turns tables
    (rebuilt by :mod:`analyzer.writers`), the SQLite database and the HTML pages when they exist.
    Returns one row per call: call_id, qa_score, failed and skipped rule ids (';'-joined)."""
    from . import writers
    from .qa import evaluate

    root = Path(results_dir)
    rows, results = [], []
    for path in iter_result_files(root):
        result = read_result(path)
        qa = evaluate(rules, result)
        result["qa"] = qa
        writers.atomic_write_text(path, json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False))
        results.append(result)
        rows.append({"call_id": result["call_id"], "qa_score": qa["score"],
                     "failed": ";".join(f["rule"] for f in qa["failed"]),
                     "skipped": ";".join(s["rule"] for s in qa["skipped"])})
    if (root / writers.CALLS_DIR).is_dir():
        writers.write_tables(root, results)
        db_path = root / writers.DB_NAME
        if db_path.exists():
            with writers.ResultsDatabase(db_path) as database:
                for result in results:
                    database.upsert_call(result)
        if (root / "index.html").exists() or (root / writers.HTML_DIR).is_dir():
            from .html import write_pages

            write_pages(root, results, html_dir=writers.HTML_DIR)
    return pd.DataFrame(rows, columns=["call_id", "qa_score", "failed", "skipped"])


def run_score(args: argparse.Namespace) -> int:
    """``call-analyzer score``: re-score a results folder and print a summary."""
    from .qa import load_default_rules, load_rules

    try:
        rules = load_rules(args.rules) if args.rules else load_default_rules()
        scores = rescore_results(args.results_dir, rules)
    except AnalyzerError as exc:
        return _report_error(exc)
    failed = scores["failed"].str.split(";").explode()
    failed = failed[failed.fillna("") != ""].value_counts()
    print(f"Scored {len(scores)} calls with rules {rules.version}: mean {scores['qa_score'].mean():.1f}, "
          f"median {scores['qa_score'].median():.1f}, {int((scores['qa_score'] < 70).sum())} below 70.")
    for rule_id, count in failed.head(10).items():
        print(f"  {rule_id}: failed in {count} call(s)")
    worst = scores.nsmallest(5, "qa_score")
    if len(worst):
        print("Lowest scores: " + ", ".join(f"{r.call_id} ({r.qa_score:.0f})" for r in worst.itertuples()))
    return 0
