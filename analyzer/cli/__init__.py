"""Command line: a thin layer that builds the config, calls the library, and reports.

One module per command (``analyze``, ``emotion``, ``train_emotion``, ``compare``, ``score``, ``export``, ``config``, ``search``,
``serve``, ``annotations``),
each with ``register_commands(subparsers)``; handlers are ``args.func(args) -> int``.
Errors are one line each; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import signal
import sys

from .._version import __version__
from ..errors import AnalyzerError
from . import analyze, compare, config, emotion, export, export_annotations, score, search, serve, train_emotion

COMMAND_MODULES = (analyze, emotion, train_emotion, compare, score, export, config, search, serve, export_annotations)


DEBUG_HELP = "show full tracebacks on errors"


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: X)`` after an option's help, except where it says nothing: required options,
    options without a default (None) and on/off flags (False)."""

    def _get_help_string(self, action):
        if action.required or action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _finish_subcommand(parser: argparse.ArgumentParser) -> None:
    """What every subcommand accepts: ``--debug`` after the command too (``analyze --debug``), and
    help without empty defaults."""
    if parser.formatter_class is argparse.ArgumentDefaultsHelpFormatter:
        parser.formatter_class = DefaultsHelpFormatter
    if "--debug" not in parser._option_string_actions:
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)


EXIT_OK, EXIT_USAGE, EXIT_SOME_FAILED, EXIT_NOTHING, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 3, 130, 143
"""Exit codes of every subcommand (README: exit codes)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C (workers stopped, outputs whole), exit 143."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors exiting 1 (bad usage), not argparse's 2 (which means 'some files failed')."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"error: {message}\n")


def _raise_terminated(signum, frame):
    raise Terminated()


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="call-analyzer",
        description="Offline analysis of recorded two-party phone calls: pacing, turn-taking and emotion.",
    )
    parser.add_argument("--version", action="version", version=f"call-analyzer {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register_commands(subparsers)
    for sub in subparsers.choices.values():
        _finish_subcommand(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "debug"):
        args.debug = False
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return int(args.func(args) or 0)
    except AnalyzerError as exc:
        if args.debug:
            raise
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up message short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"{what}: results written so far are kept; re-run the same command to resume", file=sys.stderr)
        return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
    except Exception as exc:  # noqa: BLE001
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())} (rerun with --debug for details)", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if signal.getsignal(signal.SIGTERM) is _raise_terminated:
            signal.signal(signal.SIGTERM, previous)
