"""Loading for the outcome comparison: results folder -> one row per call, and outcome labels."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..outputs.reader import ResultsError, iter_result_files, read_result

TRAJECTORY_BINS = 10
"""Customer valence is averaged in this many equal slices of normalised call time."""
TRAJECTORY_PREFIX = "traj_customer_valence_"


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
    (``a/b.wav``) or a leading ``./`` still matches call_id ``a/b``.

    Two labels that land on the same call with different outcomes (``a0,won`` and ``a0.wav,lost``)
    raise :class:`ResultsError` naming both; labels that match no result are listed in
    ``series.attrs["unmatched"]`` (the CLI warns about them).
    """
    known = set(call_ids)
    out: dict[str, str] = {}
    source: dict[str, str] = {}
    unmatched = []
    for key, value in labels.items():
        key = str(key).replace("\\", "/")
        candidates = [key, key.removeprefix("./"), os.path.splitext(key.removeprefix("./"))[0]]
        hit = next((c for c in candidates if c in known), None)
        if hit is None:
            unmatched.append(str(key))
            continue
        if hit in out and out[hit] != value:
            raise ResultsError(f"labels {source[hit]!r} = {out[hit]!r} and {key!r} = {value!r} both name call "
                               f"{hit!r} with different outcomes; keep one")
        out[hit] = value
        source.setdefault(hit, str(key))
    series = pd.Series(out, name="outcome", dtype=object)
    series.attrs["unmatched"] = unmatched
    return series


def labels_by_folder(call_ids: pd.Index) -> pd.Series:
    """Outcome = first path component of the call_id (``won/2024/call1`` -> ``won``); calls at the top are unlabelled."""
    out = {cid: cid.split("/", 1)[0] for cid in call_ids if "/" in cid}
    return pd.Series(out, name="outcome", dtype=object)
