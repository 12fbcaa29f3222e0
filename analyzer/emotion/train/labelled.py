"""Labelled training data for ``train-emotion``: clips or turns of calls, read from a CSV.

Two CSV shapes are accepted (header names, any column order; extra columns are ignored):

- **clips**: ``path,label[,speaker]``: one labelled clip per row (the whole file).
- **turns of calls**: ``path,start_s,end_s,label[,speaker][,channel][,call_id]``: a stretch of a
  call's audio (seconds), e.g. the export of ``call-analyzer annotations RESULTS --out labels.csv``
  (``path,start_s,end_s,label,speaker,channel,call_id,turn_index,machine_label,annotator,annotated_at``).
  ``channel`` is the stereo channel of that speaker (0 or 1); empty = the mix of all channels (mono calls).
  The turn is cut from the call with a seek (:func:`analyzer.audio.read_span`), so a 3-hour call is never
  read whole.

Labels: ``neutral``, ``happy``, ``angry``, ``sad`` (any case). Relative paths start at the CSV's folder.
The *speaker* of a turn is ``call_id/speaker`` (``call_id`` defaults to the path): the same agent in two
calls counts as two speakers, and the held-out split (:func:`group_split`) keeps every call on one side.
Every bad row raises :class:`TrainingDataError` naming the CSV, the line and the reason.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import AnalyzerError
from ..model import LABELS

END_TOLERANCE_S = 0.02  # a turn may end this far past the file's end (rounding of exported times)


class TrainingDataError(AnalyzerError):
    """Labelled training data cannot be used (bad CSV, unknown label, missing file)."""


@dataclass(frozen=True)
class LabelledItem:
    """One labelled clip or turn. ``start_s``/``end_s`` None = the whole file; ``channel`` None = the mix."""

    path: str
    label: str
    speaker: str  # the baseline group: clip speaker, or call_id/speaker for turns
    group: str  # the split group: the call (turns) or the speaker (clips)
    line: int  # CSV line (for messages)
    start_s: float | None = None
    end_s: float | None = None
    channel: int | None = None

    @property
    def is_turn(self) -> bool:
        return self.start_s is not None


def read_labelled_csv(csv_path: str | Path) -> list[LabelledItem]:
    """Rows of a clips or turns CSV -> items (files probed, times and channels checked); see the module docstring."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise TrainingDataError("labels CSV not found; pass --data with columns path,label[,speaker] or "
                                "path,start_s,end_s,label,speaker[,channel,call_id]", path=str(csv_path))
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items()} for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TrainingDataError(f"cannot read the CSV ({exc}); save it as UTF-8 CSV", path=str(csv_path)) from None
    if not {"path", "label"} <= set(header):
        raise TrainingDataError("labels CSV needs a header with columns path,label (clips) or path,start_s,end_s,label (turns)",
                                path=str(csv_path))
    turns = {"start_s", "end_s"} <= set(header)
    if not turns and ({"start_s", "end_s"} & set(header)):
        raise TrainingDataError("labels CSV has only one of start_s/end_s; turns need both", path=str(csv_path))
    probes: dict[str, object] = {}
    items = [_item(row, n, csv_path, turns, probes) for n, row in enumerate(rows, start=2)]
    if len(items) < 2:
        raise TrainingDataError("need at least 2 labelled rows to train", path=str(csv_path))
    return items


def _item(row: dict, n: int, csv_path: Path, turns: bool, probes: dict) -> LabelledItem:
    def bad(reason: str) -> TrainingDataError:
        return TrainingDataError(f"line {n}: {reason}", path=str(csv_path))

    label = row.get("label", "").lower()
    if label not in LABELS:
        raise bad(f"label {row.get('label', '')!r} is not one of {', '.join(LABELS)}; map your labels to these")
    if not row.get("path"):
        raise bad("empty path")
    p = Path(row["path"])
    p = p if p.is_absolute() else csv_path.parent / p
    if not p.is_file():
        raise bad(f"audio file {p} not found; fix the path (relative paths start at the CSV's folder)")
    speaker = row.get("speaker", "")
    if not turns:
        name = speaker or f"clip:{p}"
        return LabelledItem(str(p), label, name, name, n)
    try:
        start_s, end_s = float(row.get("start_s", "")), float(row.get("end_s", ""))
    except ValueError:
        raise bad(f"start_s={row.get('start_s')!r} / end_s={row.get('end_s')!r} are not numbers (seconds)") from None
    if not (np.isfinite(start_s) and np.isfinite(end_s)) or start_s < 0:
        raise bad(f"start_s={start_s} / end_s={end_s} must be finite seconds >= 0")
    if end_s <= start_s:
        raise bad(f"end_s={end_s} is not after start_s={start_s}")
    info = probes.get(str(p))
    if info is None:
        from ...audio import probe
        from ...errors import AudioError

        try:
            info = probes[str(p)] = probe(p, min_duration_s=0.0)
        except AudioError as exc:
            raise bad(f"cannot read {p}: {exc.reason}") from None
    if end_s > info.duration_s + END_TOLERANCE_S:
        raise bad(f"end_s={end_s} is beyond the end of {p} ({info.duration_s:.3f} s)")
    channel = None
    if row.get("channel", "") != "":
        try:
            channel = int(float(row["channel"]))
        except ValueError:
            raise bad(f"channel {row['channel']!r} is not 0, 1 or empty") from None
        if not 0 <= channel < info.n_channels:
            raise bad(f"channel {channel} does not exist: {p} has {info.n_channels} channel(s) (use 0..{info.n_channels - 1}, or empty for the mix)")
    call_id = row.get("call_id", "") or str(p)
    return LabelledItem(str(p), label, f"{call_id}/{speaker or 'speaker'}", call_id, n, start_s, min(end_s, info.duration_s), channel)


def item_audio(item: LabelledItem) -> tuple[np.ndarray, int]:
    """The item's samples as mono float32 and their rate: the whole clip, or the turn cut from its call
    (seek + read of just that stretch, at the call's analysis rate; the given channel, else the mix)."""
    from ...audio import probe, read_span
    from ...errors import AudioError

    try:
        info = probe(item.path, min_duration_s=0.0)
        audio = read_span(info, item.start_s, item.end_s) if item.is_turn else read_span(info, 0.0, info.duration_s)
    except AudioError as exc:
        raise TrainingDataError(f"line {item.line}: cannot read the audio ({exc.reason})", path=item.path) from None
    mono = audio[:, item.channel] if item.channel is not None else audio.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), int(info.analysis_rate_hz)


def group_split(items: list[LabelledItem], holdout_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) row indices: whole groups (calls; speakers for clips) in a seeded random order go to
    the held-out side until it holds at least ``holdout_share`` of the rows; no group is on both sides.

    ``holdout_share`` 0, or data of a single group, holds nothing out (the report then has no before/after figures).
    """
    n = len(items)
    groups = sorted({it.group for it in items})
    if holdout_share <= 0 or len(groups) < 2:
        return np.arange(n), np.zeros(0, dtype=int)
    order = np.random.default_rng(seed).permutation(len(groups))
    size = {g: 0 for g in groups}
    for it in items:
        size[it.group] += 1
    held: set[str] = set()
    for k in order[:-1]:  # at least one group stays for training
        if sum(size[g] for g in held) >= holdout_share * n:
            break
        held.add(groups[k])
    test = np.array([i for i, it in enumerate(items) if it.group in held], dtype=int)
    train = np.array([i for i, it in enumerate(items) if it.group not in held], dtype=int)
    return train, test
