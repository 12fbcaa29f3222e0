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

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics.catalog import format_value, metric_info
from ..outputs.reader import ResultsError
from .loading import TRAJECTORY_PREFIX

MIN_GROUP_N = 10
"""Groups smaller than this get a warning instead of findings."""
MAX_MISSING_SHARE = 0.5
"""Metrics missing (null) in more than this share of calls are not tested."""
ALPHA_Q = 0.05
"""Findings need a Benjamini-Hochberg q-value below this."""
_META_COLUMNS = ("path", "qa_score", "mode", "outcome")
_GOOD_LABELS = ("won", "win", "success", "successful", "sale", "sold", "yes", "true", "good", "positive",
                "resolved", "converted", "closed_won", "1")


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
