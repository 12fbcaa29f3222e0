"""``call-analyzer serve RESULTS``: the review app over a results folder (docs/review.md)."""

from __future__ import annotations

import argparse
import sys

from ..config import ReviewConfig


def register_commands(subparsers) -> None:
    """Add ``serve`` to the CLI's subparsers."""
    p = subparsers.add_parser(
        "serve", help="review app: browse and listen to calls, relabel turns, dispute QA results, add notes",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="A local web app over a results folder: calls list with filters, the call view with "
        "audio, and review actions stored in the folder's results.sqlite (annotation tables; never "
        "overwriting the analysis). Listens on localhost by default; with another --host a random access "
        "token is printed and required on every request.")
    p.add_argument("results", help="results folder (the --out folder of analyze, with results.sqlite)")
    p.add_argument("--host", default=ReviewConfig.host, help="address to listen on (0.0.0.0: every interface, "
                   "token required)")
    p.add_argument("--port", type=int, default=ReviewConfig.port, help="TCP port (0: any free port)")
    p.set_defaults(func=_run_serve)


def _run_serve(args) -> int:
    from ..review.app import make_server

    server, url, token = make_server(args.results, host=args.host, port=args.port)
    print(f"call-analyzer review app for {args.results}: open {url}", file=sys.stderr)
    if token:
        import socket

        print(f"access token (required on every request; the link above carries it once): {token}", file=sys.stderr)
        if args.host == "0.0.0.0":
            print(f"from another machine: {url.replace(args.host, socket.gethostname(), 1)}", file=sys.stderr)
        print("no TLS: on a shared network use an SSH tunnel or a TLS proxy (docs/review.md)", file=sys.stderr)
    print("press Ctrl-C to stop", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
