"""Many calls: discover files, name calls, skip finished ones, run workers, write as results arrive.

``analyze_files`` / ``analyze_folder`` end in :func:`analyzer.pipeline.analyze_file`
for each call. One bad file never stops a batch: its one-line reason goes to
``errors.csv`` (and the database) and the batch goes on.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import sqlite3
import sys
import time
import traceback
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ._version import __version__
from .config import AnalysisConfig, from_dict
from .errors import AnalyzerError, ConfigError
from .pool import available_cpus, run_pool
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
    found: int = 0  # files the inputs held
    worker_deaths: int = 0
    stale: list[str] = field(default_factory=list)  # stored results whose status is not 'current'

    @property
    def exit_code(self) -> int:
        """0 all analysed (or up to date), 2 some files failed, 3 the inputs held no audio file."""
        if self.errors:
            return 2
        return 3 if self.found == 0 else 0


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


def _short_hash(text: str, n: int) -> str:
    return hashlib.sha1(text.encode("utf-8", errors="surrogateescape")).hexdigest()[:n]


@dataclass(frozen=True)
class _Found:
    """One input file: absolute path, its input root and its path relative to that root."""

    path: str
    root: str
    relative: str

    def candidate(self, level: int) -> str:
        """The call_id this file asks for at collision level 0..3 (see :func:`assign_call_ids`)."""
        relative = self.relative.replace(os.sep, "/")
        stem = str(Path(relative).with_suffix("")) if Path(relative).suffix else relative
        clean = sanitize_call_id(stem)
        # a name the sanitiser had to change (control characters, hidden-folder dots, NFD accents ...)
        # carries a hash of the original, so two names that clean up alike stay two ids
        tag = "" if clean == stem else "~" + _short_hash(relative, 8)
        if level == 0:
            return clean + tag
        if level == 1:
            return sanitize_call_id(relative) + tag
        if level == 2:
            return sanitize_call_id(Path(self.root).name + "/" + stem) + tag
        return sanitize_call_id(relative) + "~" + _short_hash(self.path, 10)


def _collect(inputs: Iterable[str | Path]) -> list[_Found]:
    """Files of the inputs with their roots; the same file given twice (or found twice) counts once."""
    found: list[_Found] = []
    direct: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            root = os.path.abspath(path)
            found.extend(_Found(os.path.abspath(f), root, os.path.relpath(os.path.abspath(f), root))
                         for f in _walk_audio(path))
        else:
            direct.append(os.path.abspath(path))
    if direct:
        root = os.path.commonpath([os.path.dirname(p) for p in direct])
        found.extend(_Found(p, root, os.path.relpath(p, root)) for p in direct)
    unique, seen = [], set()
    for item in found:
        key = os.path.realpath(item.path)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def assign_call_ids(files: list[_Found], stored: dict[str, str] | None = None) -> dict[str, str]:
    """file path -> call_id, injective over this run and over the results already in ``--out``.

    ``stored``: call_id -> source path of the results already in the output folder. A file that
    already has a result keeps its id. Otherwise a file takes the first of these that no other file
    of this run asks for at the same level and that is not held by a stored result of another
    existing file: (0) its relative path without extension, (1) with the extension, (2) with its
    input folder's name in front, (3) with the extension and a hash of its absolute path.
    Names the sanitiser changed carry a hash of the original name at every level.
    """
    stored = stored or {}
    owner_real = {cid: os.path.realpath(p) for cid, p in stored.items() if p}
    by_real = {real: cid for cid, real in owner_real.items()}
    taken: dict[str, str] = {}
    ids: dict[str, str] = {}

    def blocked(call_id: str, real: str) -> bool:
        if call_id in taken:
            return True
        owner = owner_real.get(call_id)
        return owner is not None and owner != real and os.path.exists(owner)

    remaining = []
    for item in files:
        real = os.path.realpath(item.path)
        call_id = by_real.get(real)
        if call_id is not None and call_id not in taken:
            taken[call_id] = item.path
            ids[item.path] = call_id
        else:
            remaining.append(item)
    for level in range(4):
        asked = {item.path: item.candidate(level) for item in remaining}
        counts = Counter(asked.values())
        left = []
        for item in remaining:
            call_id = asked[item.path]
            if (counts[call_id] == 1 or level == 3) and not blocked(call_id, os.path.realpath(item.path)):
                taken[call_id] = item.path
                ids[item.path] = call_id
            else:
                left.append(item)
        remaining = left
    if remaining:  # only a sha1 collision of two absolute paths could get here
        item = remaining[0]
        raise ConfigError(f"cannot give {item.path} a call_id of its own (collides with "
                          f"{taken.get(item.candidate(3))}); rename one of the two files")
    return ids


def discover(inputs: Iterable[str | Path], *, channel_map: dict[str, tuple[str, str]] | None = None,
             stored: dict[str, str] | None = None) -> list[CallTask]:
    """Files and folders (recursive) -> tasks with call_ids relative to their input root.

    A folder's files are named relative to the folder; files given directly are named
    relative to the deepest folder holding them all. Ids never collide, within a run or
    with the results already in the output folder (``stored``, see :func:`assign_call_ids`);
    the same file given twice is analysed once. Task paths are absolute.
    """
    files = _collect(inputs)
    ids = assign_call_ids(files, stored)
    tasks = []
    for item in files:
        call_id = ids[item.path]
        mapping = None
        if channel_map:
            mapping = channel_map.get(call_id) or channel_map.get(item.path) or channel_map.get(
                os.path.relpath(item.path))
        tasks.append(CallTask(item.path, call_id, mapping))
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
    if os.path.realpath(str(stored.get("path") or "")) != os.path.realpath(task.path):
        return False  # another file (or the same one moved) under this id: analyse it again
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


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_per_job(threads: int | None = None, *, environ: dict | None = None) -> int:
    """Compute threads (torch, BLAS/OpenMP) each job runs, in every engine: ``threads`` if given, else
    ``OMP_NUM_THREADS`` if set to a whole number, else 1. One thread per job by default because a
    second torch thread paid little and cost much (BENCHMARKS section 6): on the idle 2-core machine
    a serial run with emotion took 20 % less wall time for 24 % more CPU, and on a loaded one 5x the
    CPU (threads spinning while they wait for a core); ``--jobs N`` is the way to use N cores.
    Results do not depend on it beyond float rounding in torch."""
    if threads is not None:
        return threads
    given = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "")
    return int(given) if given.strip().isdigit() and int(given) >= 1 else 1


def _init_worker(threads: int) -> None:
    """A pool or Dask worker process: ``threads`` compute threads for its analysis. Imports nothing:
    torch comes in with the stage that uses it (emotion, silero VAD, mono diarization) and then
    finds the thread count in the environment."""
    _set_threads(threads)


def _set_threads(threads: int) -> None:
    """``threads`` compute threads from now on in this process: the environment (read by torch when a
    stage imports it), the BLAS/OpenMP pools already loaded (numpy's, through threadpoolctl) and torch."""
    from threadpoolctl import threadpool_limits

    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)
    _set_torch_threads(threads)


@contextlib.contextmanager
def _threads_for_run(threads: int) -> Iterator[None]:
    """:func:`_set_threads` for the serial engine, which runs in the caller's process: the environment,
    the BLAS pools and torch's threads are put back as they were when the run ends."""
    from threadpoolctl import threadpool_limits

    saved_env = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch = sys.modules.get("torch")
    saved_torch = torch.get_num_threads() if torch is not None else None
    try:
        with threadpool_limits(limits=None):  # restores the pools' own counts on exit
            _set_threads(threads)
            yield
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if saved_torch is not None:  # (imported during the run: it keeps the run's count)
            sys.modules["torch"].set_num_threads(saved_torch)


def _set_torch_threads(threads: int) -> None:
    """torch's intra-op threads, if torch is imported (a parent's import, or the one of an earlier call)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _worker_state(config_dict: dict) -> tuple[AnalysisConfig, dict]:
    """This process's config and model cache, rebuilt when the config changes (set up once per worker)."""
    if _WORKER.get("config_dict") != config_dict:
        _WORKER.update(config_dict=config_dict, config=from_dict(config_dict), models={})
    return _WORKER["config"], _WORKER["models"]


def release_models() -> None:
    """Drop this process's emotion models (the serial engine's cache) and hand the freed memory back to the
    system before the outputs are finalised, so the tables' and pages' imports (pyarrow, the page writer) do not
    stack on the encoder's buffers: the 30 s start-up peak with emotion ~413 -> ~402 MB (issue 16). A later
    run in the same process loads the model again (~0.2 s)."""
    models = _WORKER.get("models")
    if not models:
        return
    models.clear()
    import gc

    gc.collect()
    encoder = sys.modules.get("analyzer.emotion.encoder")
    if encoder is not None:
        encoder.release_freed_memory()


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


def _engine_task(task: CallTask, config_dict: dict, debug: bool, threads: int | None = None) -> dict:
    """The one task function every engine runs (in this process, a pool worker or a Dask worker).
    ``threads``: torch's threads for the call (the serial engine with an explicit ``threads``; workers
    have theirs from :func:`_init_worker`), set once the model is loaded, which imports torch."""
    config, models = _worker_state(config_dict)
    model = _worker_model(_task_config(config, task), models)
    if threads is not None:
        _set_torch_threads(threads)
    return run_task(task, config, debug=debug, model=model)


def _pool_call(item: tuple[CallTask, dict, bool]) -> dict:
    """One call in a :mod:`analyzer.pool` worker (``item`` = task, config dict, debug)."""
    return _engine_task(*item)


def _worker_death(item: tuple[CallTask, dict, bool], reason: str) -> dict:
    task = item[0]
    return {"task": task, "trace": None, "worker_died": True,
            "error": f"{task.path}: {reason} while analysing this call; the next run tries it once more"}


def _dask_task(task: CallTask, config_dict: dict, debug: bool) -> dict:
    if not _WORKER.get("threads_set"):
        _init_worker(1)
        _WORKER["threads_set"] = True
    return _engine_task(task, config_dict, debug)


def run_tasks(pending: list[CallTask], config: AnalysisConfig, *, jobs: int = 1, scheduler: str | None = None,
              debug: bool = False, threads: int | None = None) -> Iterator[dict]:
    """Yield one outcome of :func:`run_task` per task, as calls finish, on one of three engines:
    this process (``jobs`` <= 1), a pool of ``jobs`` processes, or a Dask cluster (``scheduler``;
    single-threaded workers). Every engine runs :func:`_engine_task`, which sets up config and
    model once per process. ``threads``: compute threads per job (:func:`threads_per_job`; default
    ``OMP_NUM_THREADS`` or 1)."""
    config_dict = config.to_dict()
    if not pending:
        return
    if scheduler:
        yield from _dask_outcomes(pending, config_dict, scheduler, debug)
    elif jobs <= 1 or len(pending) <= 1:
        per_job = threads_per_job(threads)
        with _threads_for_run(per_job):
            for task in pending:
                yield _engine_task(task, config_dict, debug, per_job)
    else:  # a pool that survives its workers: a dead one costs only the call it held
        yield from run_pool([(task, config_dict, debug) for task in pending], _pool_call, n_workers=jobs,
                            on_death=_worker_death, init=_init_worker, init_args=(threads_per_job(threads),))


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
        # the workers ignore SIGINT (analyzer._dask_preload): Ctrl-C reaches the whole process group, and only
        # this process should react (close the cluster, report once) instead of every worker printing a traceback
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR,
                               preload=["analyzer._dask_preload"])
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

MAX_WORKER_DEATHS = 2
"""A call that killed this many workers (in successive runs, same file and parameters) is not tried again
until the file or the parameters change, or ``--force`` is given."""


def _check_inputs(config: AnalysisConfig, out: Path | None, jobs: int, threads: int | None = None) -> None:
    """Everything that can be checked before the first file is read; raises :class:`ConfigError`."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a whole number of at least 1, got {jobs!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"--threads must be a whole number of at least 1, got {threads!r}")
    if out is not None:
        from .outputs.writers import OUT_MAX_BYTES

        size = len(os.fsencode(os.path.abspath(out)))
        if size > OUT_MAX_BYTES:
            raise ConfigError(f"the output folder's path is {size} bytes long; the results database needs it "
                              f"within {OUT_MAX_BYTES} bytes (SQLite's path limit); choose a shorter --out",
                              path=str(out)[:60] + "...")
        if out.exists() and not out.is_dir():
            raise ConfigError("--out exists and is not a folder", path=str(out))
    if config.qa.enabled:
        from . import qa

        qa.load_default_rules() if config.qa.rules == "default" else qa.load_rules(config.qa.rules)
    if config.emotion.enabled:
        from .emotion.model import resolve_model_dir

        folder = resolve_model_dir(config.emotion.model)
        if not (folder / "config.json").is_file():
            raise ConfigError(f"emotion model {config.emotion.model!r} not found (no {folder / 'config.json'}); "
                              "use 'open', 'multi' or a model folder, or --no-emotion")


def _file_stat(path: str) -> tuple[int | None, int | None]:
    try:
        stat = os.stat(path)
    except OSError:
        return None, None
    return stat.st_size, stat.st_mtime_ns


def analyze_files(
    inputs: Iterable[str | Path],
    config: AnalysisConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    jobs: int = 1,
    resume: bool = True,
    progress: bool = False,
    debug: bool = False,
    channel_map: dict[str, tuple[str, str]] | None = None,
    html: bool = True,
    on_result: Callable[[CallResult], None] | None = None,
    on_error: Callable[[dict], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
) -> BatchSummary:
    """Analyse files and folders; with ``out_dir`` write every output as results arrive.

    Returns a :class:`BatchSummary`; without ``out_dir`` its ``results`` are the
    :class:`~analyzer.result.CallResult` of every analysed call (as :func:`analyze_file` gives);
    ``on_result`` gets each CallResult as it arrives.

    ``resume``: skip calls whose stored JSON matches the file content and parameters.
    ``jobs``: worker processes (each with its own model copy), capped at the number of calls to
    analyse and of CPUs (``on_note`` is told). A worker that dies costs only its call (see
    :mod:`analyzer.pool`).
    ``threads``: compute threads (torch, BLAS) per job; default ``OMP_NUM_THREADS`` or 1
    (:func:`threads_per_job`); the serial engine puts this process's settings back after the run.
    ``scheduler``: run the calls on a Dask cluster instead (``tcp://HOST:PORT`` or ``local:N``);
    the files must be readable at the same paths on every worker. Results are written here.
    ``on_note``: one-line notes and warnings (capped jobs, a waiting lock, skipped foreign files).
    With ``out_dir`` the run holds an exclusive lock on the folder: a second run waits.
    """
    from .outputs import writers

    config = config or AnalysisConfig()
    out = Path(out_dir) if out_dir is not None else None
    _check_inputs(config, out, jobs, threads)
    note = on_note or (lambda message: None)
    if out is None:
        return _run_batch(inputs, config, None, jobs=jobs, resume=resume, progress=progress, debug=debug,
                          channel_map=channel_map, html=html, on_result=on_result, on_error=on_error,
                          note=note, scheduler=scheduler, threads=threads)
    with writers.OutputLock(out, on_wait=lambda m: note(m)):
        writers.remove_stale_temporaries(out)
        return _run_batch(inputs, config, out, jobs=jobs, resume=resume, progress=progress, debug=debug,
                          channel_map=channel_map, html=html, on_result=on_result, on_error=on_error,
                          note=note, scheduler=scheduler, threads=threads)


def _run_batch(inputs, config: AnalysisConfig, out: Path | None, *, jobs: int, resume: bool, progress: bool,
               debug: bool, channel_map, html: bool, on_result, on_error, note, scheduler,
               threads: int | None = None) -> BatchSummary:
    """The body of :func:`analyze_files` (with the output folder locked)."""
    from .outputs import writers

    stored = writers.stored_call_paths(out) if out is not None else {}
    tasks = discover(inputs, channel_map=channel_map, stored=stored)
    summary = BatchSummary(found=len(tasks))
    database = writers.ResultsDatabase(out / writers.DB_NAME, on_warning=note) if out is not None else None
    pending = []
    for task in tasks:
        task_config = _task_config(config, task)
        if out is not None and resume and is_up_to_date(
            writers.read_call_json(writers.call_json_path(out, task.call_id)), task, task_config
        ):
            summary.skipped.append(task.call_id)
            continue
        failure = writers.read_failure(out, task.call_id) if out is not None and resume else None
        if failure and failure.get("worker_deaths", 0) >= MAX_WORKER_DEATHS and failure.get("path") == task.path \
                and failure.get("params_digest") == task_config.digest() \
                and (failure.get("file_size"), failure.get("file_mtime_ns")) == _file_stat(task.path):
            error = {"path": task.path, "call_id": task.call_id, "reason": failure["reason"]}
            summary.errors.append(error)
            if on_error:
                on_error(error)
            continue
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
                text = writers.result_json_text(stored)
                try:
                    database.upsert_call(stored, hashlib.sha256(text.encode("utf-8")).hexdigest())
                except sqlite3.DatabaseError as exc:  # damaged under our feet: rebuilt from the JSON files at the end
                    database.recover(exc)
                writers.write_call_json(out, stored, text)
                writers.remove_failure(out, task.call_id)
            else:
                summary.results.append(result)
            summary.analysed.append(task.call_id)
            return
        reason = outcome["error"]
        summary.worker_deaths += int(bool(outcome.get("worker_died")))
        if out is not None:
            size, mtime_ns = _file_stat(task.path)
            digest = _task_config(config, task).digest()
            before = writers.read_failure(out, task.call_id) or {}
            same = (before.get("path"), before.get("file_size"), before.get("file_mtime_ns"),
                    before.get("params_digest")) == (task.path, size, mtime_ns, digest)
            deaths = (before.get("worker_deaths", 0) if same else 0) + int(bool(outcome.get("worker_died")))
            if deaths >= MAX_WORKER_DEATHS:
                reason = (f"{task.path}: killed its worker in {deaths} runs (signal 9 is often the out-of-memory "
                          "killer); not tried again until the file or the parameters change, or --force")
            writers.write_failure(out, {"call_id": task.call_id, "path": task.path, "reason": reason,
                                        "worker_deaths": deaths, "file_size": size, "file_mtime_ns": mtime_ns,
                                        "params_digest": digest, "at": time.time()})
            try:
                database.record_error(task.path, task.call_id, reason)
            except sqlite3.DatabaseError as exc:
                database.recover(exc)
        error = {"path": task.path, "call_id": task.call_id, "reason": reason}
        if on_error:
            on_error(error)
        if debug and outcome.get("trace"):
            from tqdm import tqdm  # only here: its import is ~20 ms of every run's start-up

            tqdm.write(outcome["trace"])
        summary.errors.append(error)

    bar = Progress(len(pending), enabled=progress and bool(pending))

    def record(outcome: dict) -> None:
        """Handle one finished call and advance the progress bar (same for every engine)."""
        handle(outcome)
        bar.update(failed=len(summary.errors))

    workers = min(jobs, len(pending), available_cpus())
    if jobs > 1 and workers < jobs and pending and not scheduler:
        note(f"--jobs {jobs} capped to {workers} worker process(es): {len(pending)} call(s) to analyse, "
             f"{available_cpus()} CPU(s)")
    try:
        outcomes = run_tasks(pending, config, jobs=workers, scheduler=scheduler, debug=debug, threads=threads)
        try:
            for outcome in outcomes:
                record(outcome)
        finally:
            outcomes.close()  # an interrupt in record() still stops the workers now, not at garbage collection
    except BaseException:  # interrupted: what is written stays; the next run resumes
        if database is not None:
            database.close()
        raise
    finally:
        bar.close()
    if out is not None:
        release_models()
        try:
            finalize_outputs(out, summary, html=html, database=database, on_warning=note)
        finally:
            database.close()
    return summary


class Progress:
    """Progress of a batch on stderr: a tqdm bar on a terminal; plain log lines otherwise (cron, CI,
    ``2> log``), one at most every ``every_s`` seconds and one at the end:
    ``2026-12-01 14:03:07 analyze: 17/200 calls done, 1 failed``."""

    def __init__(self, total: int, *, enabled: bool, every_s: float = 10.0, stream=None):
        self.total, self.done, self.failed = total, 0, 0
        self.enabled, self.every_s = enabled, every_s
        self.stream = stream if stream is not None else sys.stderr
        self._last = float("-inf")
        self._bar = None
        if enabled and _is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="call", desc="analyze", dynamic_ncols=True, file=self.stream)

    def update(self, *, failed: int) -> None:
        self.done += 1
        self.failed = failed
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(failed=failed, refresh=False)
        elif self.enabled and (time.monotonic() - self._last >= self.every_s or self.done == self.total):
            self._last = time.monotonic()
            self.write(f"analyze: {self.done}/{self.total} calls done, {failed} failed")

    def write(self, line: str) -> None:
        """One timestamped log line (through tqdm on a terminal, so the bar is not broken)."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def finalize_outputs(out: Path, summary: BatchSummary, *, html: bool = True, database=None,
                     on_warning: Callable[[str], None] | None = None) -> None:
    """Make every table, errors.csv, the database and the pages mirror the per-call JSON files and the
    failure records (:func:`analyzer.outputs.rebuild.rebuild_outputs`); sets ``summary.stale``."""
    from .outputs.rebuild import rebuild_outputs

    summary.stale = rebuild_outputs(out, this_run_failed={e["call_id"] for e in summary.errors}, html=html,
                                    database=database, on_warning=on_warning)


def analyze_folder(folder: str | Path, config: AnalysisConfig | None = None, **kwargs) -> BatchSummary:
    """:func:`analyze_files` over one folder (recursive)."""
    return analyze_files([folder], config, **kwargs)


__all__ = ["BatchSummary", "CallTask", "analyze_files", "analyze_folder", "discover", "sanitize_call_id"]
