"""The one reader of a results folder: the per-call JSON files that ``call-analyzer analyze`` writes.

Used by ``compare`` (tables of metrics), ``score`` (re-scoring) and the batch runner (resume,
rebuilding the tables).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import AnalyzerError


class ResultsError(AnalyzerError):
    """A results folder or a labels file cannot be used for a comparison."""


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
