"""Many calls: discover files, name calls, skip finished ones, run workers, write as results arrive.

``analyze_files`` / ``analyze_folder`` end in :func:`analyzer.pipeline.analyze_file`
for each call. One bad file never stops a batch: its one-line reason goes to
``errors.csv`` (and the database) and the batch goes on.
"""

from __future__ import annotations

import csv
import os
import traceback
import unicodedata
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ._version import __version__
from .config import AnalysisConfig, from_dict
from .errors import AnalyzerError, ConfigError
from .result import CallResult

AUDIO_EXTENSIONS = {
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac", ".amr", ".gsm",
    ".wma", ".au", ".snd", ".aif", ".aiff", ".caf", ".w64", ".rf64", ".webm", ".mka", ".ulaw", ".alaw",
}


@dataclass(frozen=True)
class CallTask:
    """One file to analyse and the stable id its results are stored under."""

    path: str
    call_id: str
    channels: tuple[str, str] | None = None  # per-file channel mapping override


@dataclass
class BatchSummary:
    """What a batch did. ``errors``: dicts with path, call_id, reason."""

    analysed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    results: list[CallResult] = field(default_factory=list)  # only when no out_dir is given

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 0


def sanitize_call_id(text: str) -> str:
    """A call_id that is a safe relative path: no '..', no absolute or empty parts, no control characters."""
    text = unicodedata.normalize("NFC", text).replace("\\", "/")
    parts = []
    for part in text.split("/"):
        part = "".join(ch if ch.isprintable() else "_" for ch in part).strip()
        if part in ("", ".", ".."):
            continue
        parts.append(part.lstrip("."))  # no hidden files and no '...'-style tricks
    cleaned = "/".join(p if p else "_" for p in parts)
    return cleaned or "call"


def _walk_audio(folder: Path) -> list[Path]:
    """Audio files under ``folder``; symlinked folders are not followed (no loops)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS and not name.startswith("."):
                found.append(Path(root) / name)
    return found


def discover(inputs: Iterable[str | Path], *, channel_map: dict[str, tuple[str, str]] | None = None) -> list[CallTask]:
    """Files and folders (recursive) -> tasks with call_ids relative to their input root.

    A folder's files are named relative to the folder; files given directly are
    named relative to the deepest folder holding them all, so two ``call.wav``
    from different folders get different ids. Ids that would still collide
    (``x.wav`` and ``x.mp3``) keep their extension.
    """
    pairs: list[tuple[Path, Path]] = []  # (file, root)
    direct: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pairs.extend((f, path) for f in _walk_audio(path))
        else:
            direct.append(path)
    if direct:
        root = Path(os.path.commonpath([str(p.absolute().parent) for p in direct]))
        pairs.extend((p, root) for p in direct)
    named: dict[str, list[Path]] = {}
    for file, root in pairs:
        relative = os.path.relpath(file.absolute(), root.absolute())
        named.setdefault(sanitize_call_id(str(Path(relative).with_suffix(""))), []).append((file, relative))
    tasks = []
    for call_id, files in named.items():
        for file, relative in files:
            final_id = call_id if len(files) == 1 else sanitize_call_id(relative)
            mapping = None
            if channel_map:
                mapping = channel_map.get(final_id) or channel_map.get(str(file))
            tasks.append(CallTask(str(file), final_id, mapping))
    tasks.sort(key=lambda t: t.call_id)
    return tasks


def load_channel_map(path: str | Path) -> dict[str, tuple[str, str]]:
    """Per-file channel mapping from a CSV with columns ``call_id`` (or file path) and ``left`` (agent|customer)."""
    mapping = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            key, left = (row.get("call_id") or row.get("path") or "").strip(), (row.get("left") or "").strip()
            if left not in ("agent", "customer") or not key:
                raise ConfigError(f"line {line}: need call_id (or path) and left=agent|customer, got {row}", path=str(path))
            mapping[key] = (left, "customer" if left == "agent" else "agent")
    return mapping


def is_up_to_date(stored: dict | None, task: CallTask, config: AnalysisConfig) -> bool:
    """True when the stored result is for the same file content, parameters and version."""
    if not stored or stored.get("params_digest") != config.digest():
        return False
    if stored.get("versions", {}).get("call_analyzer") != __version__:
        return False
    try:
        stat = os.stat(task.path)
    except OSError:
        return False
    if stored.get("file_size") == stat.st_size and stored.get("file_mtime_ns") == stat.st_mtime_ns:
        return True
    from .pipeline import file_digest

    return stored.get("content_sha256") == file_digest(task.path)


def _task_config(config: AnalysisConfig, task: CallTask) -> AnalysisConfig:
    if task.channels is None:
        return config
    return config.replace(audio={"channels": list(task.channels)})


# ---- worker side -------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(threads: int) -> None:
    """Process-pool and Dask workers: one single-threaded analysis per process."""
    import torch

    torch.set_num_threads(threads)


def _worker_state(config_dict: dict) -> tuple[AnalysisConfig, dict]:
    """This process's config and model cache, rebuilt when the config changes (set up once per worker)."""
    if _WORKER.get("config_dict") != config_dict:
        _WORKER.update(config_dict=config_dict, config=from_dict(config_dict), models={})
    return _WORKER["config"], _WORKER["models"]


def _worker_model(config: AnalysisConfig, models: dict):
    if not config.emotion.enabled:
        return None
    if config.emotion.model not in models:
        from .emotion import load_model

        models[config.emotion.model] = load_model(config.emotion.model)
    return models[config.emotion.model]


def run_task(task: CallTask, config: AnalysisConfig, *, debug: bool = False, model=None) -> dict:
    """Analyse one task; never raises. Returns {'task', 'ok': CallResult} or {'task', 'error': reason, 'trace'}."""
    from .pipeline import analyze_file

    try:
        cfg = _task_config(config, task)
        return {"task": task, "ok": analyze_file(task.path, cfg, call_id=task.call_id, emotion_model=model)}
    except AnalyzerError as exc:
        return {"task": task, "error": exc.one_line(), "trace": traceback.format_exc() if debug else None}
    except MemoryError:
        return {"task": task, "error": f"{task.path}: out of memory while analysing", "trace": None}
    except Exception as exc:  # noqa: BLE001 - a batch must survive any one file
        reason = f"{task.path}: internal error {type(exc).__name__}: {' '.join(str(exc).split())} (rerun with --debug for details)"
        return {"task": task, "error": reason, "trace": traceback.format_exc()}


def _engine_task(task: CallTask, config_dict: dict, debug: bool) -> dict:
    """The one task function every engine runs (in this process, a pool worker or a Dask worker)."""
    config, models = _worker_state(config_dict)
    return run_task(task, config, debug=debug, model=_worker_model(_task_config(config, task), models))


def _dask_task(task: CallTask, config_dict: dict, debug: bool) -> dict:
    if not _WORKER.get("threads_set"):
        _init_worker(1)
        _WORKER["threads_set"] = True
    return _engine_task(task, config_dict, debug)


def run_tasks(pending: list[CallTask], config: AnalysisConfig, *, jobs: int = 1, scheduler: str | None = None,
              debug: bool = False) -> Iterator[dict]:
    """Yield one outcome of :func:`run_task` per task, as calls finish, on one of three engines:
    this process (``jobs`` <= 1), a pool of ``jobs`` single-threaded processes, or a Dask cluster
    (``scheduler``). Every engine runs :func:`_engine_task`, which sets up config and model once
    per process."""
    config_dict = config.to_dict()
    if not pending:
        return
    if scheduler:
        yield from _dask_outcomes(pending, config_dict, scheduler, debug)
    elif jobs <= 1 or len(pending) <= 1:
        for task in pending:
            yield _engine_task(task, config_dict, debug)
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(1,)) as pool:
            futures = [pool.submit(_engine_task, task, config_dict, debug) for task in pending]
            for future in as_completed(futures):
                yield future.result()


# ---- Dask engine (optional extra: pip install 'call-analyzer[cluster]') --------------------------


def open_dask_client(scheduler: str):
    """A ``dask.distributed`` client for ``tcp://HOST:PORT`` (an existing cluster) or ``local:N``.

    ``local:N`` starts a local cluster of N single-threaded worker processes for this run.
    Returns ``(client, cluster_or_None)``; close both when done.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'call-analyzer[cluster]'") from None
    import logging

    import dask

    # analysis tasks keep both cores busy; on a loaded machine the default 30 s comm timeouts fail spuriously
    dask.config.set({"distributed.comm.timeouts.connect": "120s", "distributed.comm.timeouts.tcp": "120s"})
    if scheduler.startswith("local:") or scheduler == "local":
        count = scheduler.partition(":")[2] or str(os.cpu_count() or 1)
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(f"--scheduler {scheduler!r}: expected local:N with N >= 1 worker processes")
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster), cluster
    if "://" not in scheduler:
        raise ConfigError(f"--scheduler {scheduler!r}: expected tcp://HOST:PORT or local:N")
    try:
        return Client(scheduler, timeout=30), None
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {' '.join(str(exc).split())}") from None


def _dask_outcomes(pending: list[CallTask], config_dict: dict, scheduler: str, debug: bool) -> Iterator[dict]:
    """Send one task per call to the cluster; results come back to this process, which writes them."""
    from dask.distributed import as_completed as dask_completed

    client, cluster = open_dask_client(scheduler)
    try:
        futures = {client.submit(_dask_task, task, config_dict, debug, pure=False, key=f"call-{i}-{task.call_id}"): task
                   for i, task in enumerate(pending)}
        for future in dask_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory) or was lost
                outcome = {"task": task, "trace": None,
                           "error": f"{task.path}: the Dask worker failed while analysing: {type(exc).__name__}: "
                                    f"{' '.join(str(exc).split())}"}
            future.release()
            yield outcome
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---- driver ------------------------------------------------------------------------------------


def analyze_files(
    inputs: Iterable[str | Path],
    config: AnalysisConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    jobs: int = 1,
    resume: bool = True,
    progress: bool = True,
    debug: bool = False,
    channel_map: dict[str, tuple[str, str]] | None = None,
    html: bool = True,
    on_result: Callable[[CallResult], None] | None = None,
    on_error: Callable[[dict], None] | None = None,
    scheduler: str | None = None,
) -> BatchSummary:
    """Analyse files and folders; with ``out_dir`` write every output as results arrive.

    Returns a :class:`BatchSummary`; without ``out_dir`` its ``results`` are the
    :class:`~analyzer.result.CallResult` of every analysed call (as :func:`analyze_file` gives);
    ``on_result`` gets each CallResult as it arrives.

    ``resume``: skip calls whose stored JSON matches the file content and parameters.
    ``jobs``: worker processes (each single-threaded, with its own model copy).
    ``scheduler``: run the calls on a Dask cluster instead (``tcp://HOST:PORT`` or ``local:N``);
    the files must be readable at the same paths on every worker. Results are written here.
    """
    from tqdm import tqdm

    from .outputs import writers

    config = config or AnalysisConfig()
    tasks = discover(inputs, channel_map=channel_map)
    summary = BatchSummary()
    out = Path(out_dir) if out_dir is not None else None
    database = writers.ResultsDatabase(out / writers.DB_NAME) if out is not None else None
    pending = []
    for task in tasks:
        if out is not None and resume and is_up_to_date(
            writers.read_call_json(writers.call_json_path(out, task.call_id)), task, _task_config(config, task)
        ):
            summary.skipped.append(task.call_id)
        else:
            pending.append(task)

    def handle(outcome: dict) -> None:
        task = outcome["task"]
        if "ok" in outcome:
            result = outcome["ok"]
            if on_result:
                on_result(result)
            if out is not None:
                # database first, JSON last: the JSON is what resume trusts, so a kill between the two
                # leaves a call that is analysed again (and upserted again), never one missing from the database
                stored = result.to_dict()
                database.upsert_call(stored)
                writers.write_call_json(out, stored)
            else:
                summary.results.append(result)
            summary.analysed.append(task.call_id)
        else:
            error = {"path": task.path, "call_id": task.call_id, "reason": outcome["error"]}
            if on_error:
                on_error(error)
            if debug and outcome.get("trace"):
                tqdm.write(outcome["trace"])
            if database is not None:
                database.record_error(task.path, task.call_id, outcome["error"])
            summary.errors.append(error)

    bar = tqdm(total=len(pending), unit="call", desc="analyze", disable=not progress or not pending, dynamic_ncols=True)

    def record(outcome: dict) -> None:
        """Handle one finished call and advance the progress bar (same for every engine)."""
        handle(outcome)
        bar.update(1)
        bar.set_postfix(failed=len(summary.errors), refresh=False)

    try:
        for outcome in run_tasks(pending, config, jobs=jobs, scheduler=scheduler, debug=debug):
            record(outcome)
    finally:
        bar.close()
        if database is not None:
            database.close()
    if out is not None:
        finalize_outputs(out, summary, html=html)
    return summary


def finalize_outputs(out: Path, summary: BatchSummary, *, html: bool = True) -> None:
    """Rebuild tables and pages from every stored call JSON; write this run's errors.csv."""
    from .outputs import writers

    writers.remove_stale_temporaries(out)
    results = list(writers.iter_call_results(out))
    writers.write_tables(out, results)
    writers.write_errors(out, summary.errors)
    if not html:
        return
    try:
        from .outputs.html import write_pages
    except ImportError:  # the HTML writer is optional until it lands
        return
    write_pages(out, results)


def analyze_folder(folder: str | Path, config: AnalysisConfig | None = None, **kwargs) -> BatchSummary:
    """:func:`analyze_files` over one folder (recursive)."""
    return analyze_files([folder], config, **kwargs)


__all__ = ["BatchSummary", "CallTask", "analyze_files", "analyze_folder", "discover", "sanitize_call_id"]
