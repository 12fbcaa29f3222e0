"""Dask worker preload for ``--scheduler local:N``: the worker processes ignore SIGINT.

Ctrl-C in a terminal reaches the whole process group; only the analyzer's own process should
react (close the cluster, print one line), not every worker with a traceback.
"""

import signal
import threading


def dask_setup(worker=None) -> None:  # noqa: ARG001 - Dask's preload hook signature
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
