"""The review app: a Flask application over one results folder (``call-analyzer serve``, docs/review.md).

Pages: ``/`` the calls list (filters, sort, paging as SQL, :mod:`analyzer.review.queries`),
``/call?id=`` the call view (the static call page's template, timeline and keys, plus review actions),
``/audio?id=`` the call's audio (HTTP Range requests: 206 partial content, so long calls seek).
Writes (JSON, per item): ``/api/label``, ``/api/qa``, ``/api/note``; ``/api/call?id=`` reads a
call's annotations. Every write goes through :mod:`analyzer.outputs.annotations` (append-only
rows, optimistic check of the previous value: HTTP 409 with the current value when someone else
changed the item). Guards: :mod:`analyzer.review.security`.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..config import ReviewConfig
from ..errors import AnalyzerError
from ..outputs import annotations
from ..outputs.writers import DB_NAME
from . import queries, security

TEMPLATES = Path(__file__).resolve().parent / "templates"
CALL_TEMPLATES = Path(__file__).resolve().parents[1] / "outputs" / "templates"
LIST_METRICS = ("duration_s", "talk_ratio_agent", "agent_latency_median_s", "interruptions_by_agent",
                "dead_air_count", "customer_valence_end")
LABEL_KEYS = {"neutral": "n", "happy": "h", "angry": "a", "sad": "s", "unsure": "u", "not_a_turn": "x",
              "wrong_speaker": "w"}
LABEL_TEXT = {"not_a_turn": "not a real turn", "wrong_speaker": "wrong speaker"}
MAX_ANNOTATOR_CHARS = 100
AUDIO_TYPES = {".flac": "audio/flac", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
               ".opus": "audio/ogg", ".m4a": "audio/mp4"}


def _environment():
    import jinja2

    from ..metrics.catalog import format_value, metric_info
    from ..outputs.html import clock, duration_clock, rule_title

    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(TEMPLATES)), jinja2.FileSystemLoader(str(CALL_TEMPLATES))]),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["clock"] = clock
    env.filters["duration"] = duration_clock
    env.filters["rule_title"] = rule_title
    env.filters["fmt_metric"] = lambda value, key: format_value(value, metric_info(key).unit)
    return env


def results_database(results_dir: str | Path) -> Path:
    """The results database of a folder; :class:`AnalyzerError` naming the folder when there is none."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise AnalyzerError("not a folder (give the --out folder of call-analyzer analyze)", path=str(folder))
    db = folder / DB_NAME
    if not db.is_file():
        raise AnalyzerError(f"no {DB_NAME} here (run call-analyzer analyze ... --out {folder} first)", path=str(folder))
    return db


def prepare_database(db: Path) -> None:
    """Bring the database to the current schema (annotation tables; annotations restored from the journal)."""
    from ..outputs.database import ResultsDatabase

    import sys

    ResultsDatabase(db, on_warning=lambda message: print(f"warning: {message}", file=sys.stderr)).close()


def _number(value: str | None) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        return None


def create_app(results_dir: str | Path, *, token: str | None = None, loopback: bool = True,
               config: ReviewConfig = ReviewConfig()):
    """The Flask app over ``results_dir``. ``token``: required on every request (give one for a
    non-loopback address); ``loopback``: also refuse requests whose Host is not this machine."""
    from flask import Flask, Response, abort, g, jsonify, redirect, request, send_file, url_for

    db_path = results_database(results_dir)
    prepare_database(db_path)
    journal = annotations.journal_path(db_path)
    env = _environment()
    secret = secrets.token_bytes(32)
    guard = security.AudioGuard()
    app = Flask("analyzer.review")

    def connect() -> sqlite3.Connection:
        if "db" not in g:
            g.db = sqlite3.connect(str(db_path), timeout=30)
            g.db.execute("PRAGMA busy_timeout = 30000")
        return g.db

    @app.teardown_appcontext
    def _close(_exc):
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    def render(template: str, **context: Any) -> Response:
        context.setdefault("csp_nonce", g.nonce)
        context.setdefault("csrf", g.csrf)
        return Response(env.get_template(template).render(**context), mimetype="text/html")

    def refuse(status: int, message: str) -> Response:
        return Response(message + "\n", status=status, mimetype="text/plain")

    @app.before_request
    def _guards():
        g.nonce = secrets.token_urlsafe(16)
        if loopback and not security.host_allowed(request.host):
            return refuse(403, "forbidden: this review app only answers to localhost / 127.0.0.1")
        if token:
            given = (request.args.get("token") or request.headers.get(security.TOKEN_HEADER)
                     or security.bearer(request.headers.get("Authorization")) or request.cookies.get(security.TOKEN_COOKIE))
            if not security.token_matches(given, token):
                return refuse(401, "unauthorised: open the address with ?token=... printed by call-analyzer serve")
            if request.method == "GET" and "token" in request.args:  # keep it in a cookie, out of the address bar
                args = {k: v for k, v in request.args.items(multi=True) if k != "token"}
                response = redirect(url_for(request.endpoint or "calls_list", **(request.view_args or {}), **args))
                response.set_cookie(security.TOKEN_COOKIE, token, httponly=True, samesite="Strict")
                return response
        session = request.cookies.get(security.SESSION_COOKIE)
        g.new_session = None
        if not session:
            session = g.new_session = secrets.token_urlsafe(24)
        g.session = session
        g.csrf = security.csrf_token(secret, session)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if g.new_session or not security.csrf_ok(secret, session, request.headers.get(security.CSRF_HEADER)):
                return refuse(403, "forbidden: missing or wrong CSRF token (reload the page)")
            if not security.same_origin(request.headers.get("Origin"), request.headers.get("Referer"), request.host):
                return refuse(403, "forbidden: the request does not come from this app's pages")
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        if getattr(g, "new_session", None):
            response.set_cookie(security.SESSION_COOKIE, g.new_session, httponly=True, samesite="Strict")
        nonce = getattr(g, "nonce", "none")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; "
            "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if response.mimetype in ("text/html", "application/json"):
            response.headers["Cache-Control"] = "no-store"
        return response

    # -- pages -------------------------------------------------------------------------------------

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)

    @app.get("/")
    def calls_list():
        conn = connect()
        args = request.args
        sortable = queries.sort_columns(conn)
        f = queries.CallFilter(
            text=args.get("q", "")[:200], date=args.get("date", "")[:40], qa_min=_number(args.get("qa_min")),
            qa_max=_number(args.get("qa_max")), failed_rule=args.get("rule", "")[:200],
            warnings=args.get("warnings", "") if args.get("warnings", "") in queries.WARNINGS_CHOICES else "",
            metric=args.get("metric", ""), metric_min=_number(args.get("mmin")), metric_max=_number(args.get("mmax")),
            reviewed=args.get("reviewed", "") if args.get("reviewed", "") in queries.REVIEWED_CHOICES else "",
            sort=args.get("sort", "call_id") if args.get("sort", "call_id") in sortable else "call_id",
            descending=args.get("desc") == "1")
        size = min(max(1, int(_number(args.get("size")) or config.page_size)), config.max_page_size)
        page = max(1, int(_number(args.get("page")) or 1))
        rows, total = queries.list_calls(conn, f, page=page, page_size=size, shown_metrics=LIST_METRICS)
        n_pages = max(1, -(-total // size))
        current = {k: v for k, v in args.items() if k not in ("page", "token")}
        metrics = queries.metric_columns(conn)

        def link(**changes):
            params = {**current, **{k: v for k, v in changes.items() if v is not None}}
            return url_for("calls_list", **{k: v for k, v in params.items() if v != ""})

        from ..metrics.catalog import metric_info

        return render("review_list.html.j2", rows=rows, total=total, page=page, n_pages=n_pages, size=size,
                      f=f, args=args, link=link, rules=queries.failed_rule_names(conn), metrics=metrics,
                      metric_label=lambda k: metric_info(k).label, list_metrics=LIST_METRICS,
                      transcripts=queries.has_transcripts(conn), sortable=sortable,
                      call_href=lambda call_id: url_for("call_view", id=call_id))

    def _call_row(call_id: str):
        row = connect().execute("SELECT call_id, path, content_sha256, result_json FROM calls WHERE call_id = ?",
                                (call_id,)).fetchone()
        if row is None:
            abort(404)
        return row

    def _review_state(conn, call_id: str, result: dict) -> dict:
        state = annotations.call_annotations(conn, call_id)
        attached, orphans = annotations.attach_to_turns(state["turns"], result.get("turns") or [],
                                                        min_overlap=config.min_label_overlap)
        turns = []
        for turn in result.get("turns") or []:
            label = attached.get(turn["index"])
            exact = bool(label) and (label["start_s"], label["end_s"]) == (
                annotations.key_time(turn["start_s"]), annotations.key_time(turn["end_s"]))
            turns.append({"index": turn["index"], "start": annotations.key_time(turn["start_s"]),
                          "end": annotations.key_time(turn["end_s"]), "speaker": turn.get("speaker"),
                          "machine": turn.get("emotion_label"), "label": label["label"] if label else None,
                          "exact": exact, "by": label["annotator"] if label else None,
                          "at": label["annotated_at"] if label else None,
                          "history": [{k: h[k] for k in ("label", "previous_label", "annotator", "annotated_at")}
                                      for h in (label or {}).get("history", [])]})
        qa_rows = [dict(zip(("rule", "status", "severity", "message"), r)) for r in conn.execute(
            "SELECT rule, status, severity, message FROM qa_results WHERE call_id = ? "
            "ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'not_applicable' THEN 2 ELSE 1 END, rule", (call_id,))]
        for row in qa_rows:
            review = state["qa"].get(row["rule"])
            row.update(verdict=review["verdict"] if review else None, comment=review["comment"] if review else None,
                       by=review["annotator"] if review else None, at=review["annotated_at"] if review else None)
        notes = [{k: n[k] for k in ("time_s", "text", "annotator", "annotated_at")} for n in state["notes"]]
        return {"turns": turns, "qa": qa_rows, "notes": notes,
                "orphans": [{k: o[k] for k in ("start_s", "end_s", "speaker", "label", "annotator", "annotated_at")}
                            for o in orphans]}

    @app.get("/call")
    def call_view():
        from ..outputs.html import call_page_context

        call_id = request.args.get("id", "")
        row = _call_row(call_id)
        result = json.loads(row[3])
        conn = connect()
        prev_id, next_id = queries.neighbours(conn, call_id)
        nav = {"index": url_for("calls_list"),
               "prev": (url_for("call_view", id=prev_id), prev_id) if prev_id else None,
               "next": (url_for("call_view", id=next_id), next_id) if next_id else None}
        audio_href = url_for("audio", id=call_id) if row[1] else None
        context = call_page_context(result, audio_href=audio_href, nav=nav)
        review = _review_state(conn, call_id, result)
        return render("review_call.html.j2", **context, review=review,
                      review_turns={t["index"]: t for t in review["turns"]},
                      review_data={"call_id": call_id, "csrf": g.csrf, "turns": review["turns"],
                                   "labels": list(annotations.TURN_LABELS), "keys": LABEL_KEYS, "label_text": LABEL_TEXT,
                                   "api": {**{kind: url_for("api_write", kind=kind) for kind in writes},
                                           "call": url_for("api_call", id=call_id)}},
                      label_keys=LABEL_KEYS, label_text=LABEL_TEXT)

    @app.get("/audio")
    def audio():
        row = _call_row(request.args.get("id", ""))
        path, reason = guard.resolve(row[1], row[2])
        if path is None:
            return refuse(404, f"audio not available: {reason}")
        mimetype = AUDIO_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=0)

    # -- JSON API ----------------------------------------------------------------------------------

    @app.get("/api/call")
    def api_call():
        call_id = request.args.get("id", "")
        row = _call_row(call_id)
        return jsonify(_review_state(connect(), call_id, json.loads(row[3])))

    def _body() -> tuple[dict, str]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(Response("expected a JSON object\n", status=400, mimetype="text/plain"))
        annotator = " ".join(str(body.get("annotator") or "").split())[:MAX_ANNOTATOR_CHARS]
        if not annotator:
            abort(Response("who is reviewing? enter your name first\n", status=400, mimetype="text/plain"))
        return body, annotator

    writes = {  # kind -> (store function, its fields from the JSON body and their types, optimistic check?)
        "label": (annotations.label_turn, {"turn_index": int, "start_s": float, "end_s": float, "label": str}, True),
        "qa": (annotations.review_qa, {"rule": str, "verdict": str}, True),
        "note": (annotations.add_note, {"time_s": float, "text": str}, False),
    }

    @app.post("/api/<kind>")
    def api_write(kind: str):
        if kind not in writes:
            abort(404)
        store, fields, checked = writes[kind]
        body, annotator = _body()
        try:
            kwargs = {name: kind_of(body[name]) for name, kind_of in fields.items()}
            if checked:
                kwargs.update(expected_previous=body.get("expected_previous"), comment=body.get("comment"))
            row = store(connect(), call_id=str(body["call_id"]), annotator=annotator, journal=journal, **kwargs)
        except annotations.StaleEdit as exc:
            return jsonify({"error": "stale", "message": str(exc), "current": exc.current}), 409
        except annotations.AnnotationError as exc:
            return jsonify({"error": "invalid", "message": str(exc)}), 400
        except (TypeError, ValueError, KeyError) as exc:
            return jsonify({"error": "invalid", "message": f"bad request: missing or wrong field {exc}"}), 400
        return jsonify({"ok": True, "row": row})

    return app


class RunningServer:
    """A review server on a background thread (tests, notebooks): ``url``, ``token``, ``stop()``."""

    def __init__(self, server, thread: threading.Thread, url: str, token: str | None):
        self.server, self.thread, self.url, self.token = server, thread, url, token

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def make_server(results_dir: str | Path, *, host: str = ReviewConfig.host, port: int = ReviewConfig.port,
                token: str | None = None, quiet: bool = False):
    """A threaded WSGI server (werkzeug) for the app; a non-loopback ``host`` gets a random token if none
    is given. Returns ``(server, url, token)``; ``url`` carries the token as ``?token=``."""
    import logging

    from werkzeug.serving import make_server as werkzeug_server

    loopback = security.is_loopback(host)
    if not loopback and not token:
        token = secrets.token_urlsafe(24)
    app = create_app(results_dir, token=token, loopback=loopback)
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        server = werkzeug_server(host, port, app, threaded=True)
    except OSError as exc:
        raise AnalyzerError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port") from None
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/" + (f"?token={token}" if token else "")
    return server, url, token


def start_server(results_dir: str | Path, *, host: str = ReviewConfig.host, port: int = 0,
                 token: str | None = None) -> RunningServer:
    """Start the review server on a thread (``port=0``: a free port) and return it running."""
    server, url, token = make_server(results_dir, host=host, port=port, token=token, quiet=True)
    thread = threading.Thread(target=server.serve_forever, name="review-server", daemon=True)
    thread.start()
    return RunningServer(server, thread, url, token)
