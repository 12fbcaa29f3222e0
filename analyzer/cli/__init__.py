"""Command line: a thin layer that builds the config, calls the library, and reports.

One module per command (``analyze``, ``emotion``, ``train_emotion``, ``compare``, ``score``, ``search``),
each with ``register_commands(subparsers)``; handlers are ``args.func(args) -> int``.
Errors are one line each; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys

from .._version import __version__
from ..errors import AnalyzerError
from . import analyze, compare, emotion, score, search, train_emotion

COMMAND_MODULES = (analyze, emotion, train_emotion, compare, score, search)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="call-analyzer",
        description="Offline analysis of recorded two-party phone calls: pacing, turn-taking and emotion.",
    )
    parser.add_argument("--version", action="version", version=f"call-analyzer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "debug"):
        args.debug = False
    try:
        return int(args.func(args) or 0)
    except AnalyzerError as exc:
        if args.debug:
            raise
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept; re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())} (rerun with --debug for details)", file=sys.stderr)
        return 1
