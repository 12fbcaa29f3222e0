"""The review app (``call-analyzer serve``): browse, listen, relabel turns, agree/dispute QA results and
write coaching notes over a results folder; the annotations live in its database
(:mod:`analyzer.outputs.annotations`). Flask is imported only when the app is built (nothing at import).

``create_app(results_dir)`` builds the WSGI app; ``make_server`` / ``start_server`` run it (see docs/review.md).
"""

from __future__ import annotations


def __getattr__(name):
    if name in ("create_app", "make_server", "start_server"):
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
