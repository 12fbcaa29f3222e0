"""``call-analyzer config``: print the default configuration (``--defaults``) or the effective one of
a config file (``--show --config FILE``) as commented TOML that ``--config`` reads back."""

from __future__ import annotations

import argparse
import sys


def register_commands(subparsers) -> None:
    """Add ``config`` to the CLI's subparsers; it sets ``func(args) -> int``."""
    p = subparsers.add_parser(
        "config", help="print the default or the effective configuration as commented TOML",
        description="Print every configuration key as TOML with a comment per key (meaning, unit, allowed "
                    "range). --defaults: the built-in defaults (save it, edit it, pass it with "
                    "'analyze --config FILE'). --show: the effective configuration, the defaults overlaid "
                    "with --config FILE (validated; keys that differ from the default say so).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--defaults", action="store_true", help="print the built-in defaults")
    what.add_argument("--show", action="store_true", help="print the effective configuration (with --config)")
    p.add_argument("--config", metavar="FILE", help="TOML config file to validate and show (with --show)")
    p.set_defaults(func=run_config)


def run_config(args: argparse.Namespace) -> int:
    """Write the TOML to stdout; a bad config file is a one-line error per problem (exit 1)."""
    from .._version import __version__
    from ..config import AnalysisConfig, load_config
    from ..config_toml import config_toml

    if args.defaults and args.config:
        print("error: --defaults prints the built-in defaults; use --show --config FILE for a file", file=sys.stderr)
        return 1
    config = load_config(args.config) if args.config else AnalysisConfig()
    source = f"the defaults overlaid with {args.config}" if args.config else "the built-in defaults"
    title = (f"call-analyzer {__version__} configuration: {source}.\n"
             "Use it with: call-analyzer analyze --config THIS_FILE ... (every key is optional; a missing key "
             "keeps its default).")
    sys.stdout.write(config_toml(config, title=title))
    return 0
