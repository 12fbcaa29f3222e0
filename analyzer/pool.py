"""A process pool that survives its workers.

Each worker holds at most one task at a time, so when a worker dies (SIGKILL, the
kernel's OOM killer, a crash in native code) the pool knows exactly which call it
cost: that call gets a one-line reason, a new worker is started and the batch goes
on. Workers die with the parent (``PR_SET_PDEATHSIG`` on Linux, and end-of-file on
their pipe everywhere), ignore SIGINT (the parent alone reports an interrupt) and
are terminated, then killed, when the parent stops for any reason.

``concurrent.futures.ProcessPoolExecutor`` cannot do this: one dead worker breaks
the whole executor (``BrokenProcessPool``) and every pending call with it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable, Iterable

WORKER_NAME = "ca-worker"
"""Process name (``/proc/PID/comm``) of every pool worker, so they can be counted and found."""

SHUTDOWN_GRACE_S = 3.0
"""Seconds a worker gets to exit after SIGTERM before it is killed."""


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def death_reason(exitcode: int | None) -> str:
    """Why a worker process ended, in words: ``worker died (signal 9, possibly out of memory)``."""
    if exitcode is None:
        return "worker died (unknown cause)"
    if exitcode < 0:
        number = -exitcode
        if number == signal.SIGKILL:
            return "worker died (signal 9, possibly out of memory)"
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown"
        return f"worker died (signal {number}, {name})"
    return f"worker exited unexpectedly (exit code {exitcode})"


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); name it for ``ps``."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
            libc.prctl(15, WORKER_NAME.encode(), 0, 0, 0)  # PR_SET_NAME
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)


def _worker_main(conn, parent_pid: int, init: Callable | None, init_args: tuple, work: Callable) -> None:
    """Body of a worker process: receive a task, send back ``work(task)``; ``None`` or EOF ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent handles it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    if init is not None:
        init(*init_args)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(work(task))


@dataclass
class _Worker:
    process: Any
    conn: Any
    task: Any = None


def run_pool(
    tasks: Iterable[Any],
    work: Callable[[Any], dict],
    on_outcome: Callable[[dict], None],
    *,
    n_workers: int,
    on_death: Callable[[Any, str], dict],
    init: Callable | None = None,
    init_args: tuple = (),
) -> int:
    """Run ``work(task)`` for every task in at most ``n_workers`` processes; returns how many workers died.

    ``on_outcome(result)`` gets each result as it arrives (in this process). A task whose
    worker dies is not retried here: ``on_outcome(on_death(task, reason))`` reports it and a
    fresh worker takes the next task. ``work``, ``init`` and the tasks must be picklable
    module-level objects (fork is used where available, else spawn).
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    queue = deque(tasks)
    workers: list[_Worker] = []
    deaths = 0

    def start() -> None:
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(target=_worker_main, name=WORKER_NAME, daemon=True,
                              args=(child_conn, os.getpid(), init, init_args, work))
        process.start()
        child_conn.close()
        workers.append(_Worker(process, parent_conn))

    try:
        while queue or any(w.task is not None for w in workers):
            busy = sum(w.task is not None for w in workers)
            while len(workers) < min(n_workers, busy + len(queue)):
                start()
            for worker in workers:
                if worker.task is None and queue:
                    worker.task = queue.popleft()
                    try:
                        worker.conn.send(worker.task)
                    except (BrokenPipeError, OSError):
                        pass  # it died before taking the task; its sentinel reports it below
            by_handle = {}
            for worker in workers:
                by_handle[worker.conn] = worker
                by_handle[worker.process.sentinel] = worker
            for handle in wait(list(by_handle)):
                worker = by_handle[handle]
                if worker not in workers:
                    continue
                ended = False
                if handle is worker.conn or worker.conn.poll():
                    try:
                        outcome = worker.conn.recv()
                    except (EOFError, OSError):
                        outcome, ended = None, True
                    if outcome is not None and worker.task is not None:
                        worker.task = None
                        on_outcome(outcome)
                        continue
                if not ended and handle is worker.conn:
                    continue  # spurious wake-up
                worker.process.join(timeout=SHUTDOWN_GRACE_S)
                if worker.process.is_alive():  # its pipe closed but it still runs: finish it off
                    worker.process.kill()
                    worker.process.join(timeout=SHUTDOWN_GRACE_S)
                workers.remove(worker)
                worker.conn.close()
                deaths += 1
                if worker.task is not None:
                    on_outcome(on_death(worker.task, death_reason(worker.process.exitcode)))
    finally:
        _stop(workers)
    return deaths


def _stop(workers: list[_Worker]) -> None:
    """Tell idle workers to exit, terminate busy ones, kill what is still alive after a grace period."""
    for worker in workers:
        try:
            if worker.task is None:
                worker.conn.send(None)
            else:
                worker.process.terminate()
        except (BrokenPipeError, OSError, ValueError):
            pass
    for worker in workers:
        worker.process.join(timeout=SHUTDOWN_GRACE_S)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=SHUTDOWN_GRACE_S)
        worker.conn.close()
