"""The review app (call-analyzer serve) as a real server on a free port, driven by headless Chromium
(Playwright, as tests/test_browser.py) and by raw HTTP for the security checks.

The README's screenshot of the app comes from scripts/review_screenshot.py (a real call)."""

from __future__ import annotations

import csv
import http.client
import json
import os
import shutil
import sqlite3
import urllib.parse
from pathlib import Path

import pytest

from analyzer.cli import main as cli_main
from analyzer.review.app import start_server
from review_helpers import CALL_IDS, build_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
SCRIPT_NOTE = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"


@pytest.fixture(scope="module")
def site(tmp_path_factory, speech_clips):
    root = tmp_path_factory.mktemp("review")
    results = build_results(root, speech_clips)
    server = start_server(results)
    yield {"root": root, "results": results, "url": server.url, "server": server}
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian package 'chromium' not installed; browser tests need the system browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python package 'playwright' not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def _new_page(browser, name: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.problems = []
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
    page.on("pageerror", lambda exc: page.problems.append(f"page error: {exc}"))
    page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.reviewer = name
    return context, page


def _open_call(page, site, call_id: str):
    page.goto(site["url"] + "call?" + urllib.parse.urlencode({"id": call_id}))
    _ready(page)
    page.fill("#reviewer", page.reviewer)
    page.dispatch_event("#reviewer", "change")
    page.locator("#reviewer").blur()


def _ready(page):
    page.wait_for_function("document.getElementById('player').readyState >= 1")


def _shown_as_text_and_no_script_ran(page):
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.problems == []


def _saved(page, text: str):
    page.wait_for_function("s => document.getElementById('review-status').textContent.indexOf(s) >= 0", arg=text)


def _db(site):
    return sqlite3.connect(str(site["results"] / "results.sqlite"))


def _turns(site, call_id):
    with _db(site) as conn:
        return conn.execute("SELECT turn_index, start_s, end_s, speaker FROM turns WHERE call_id = ? ORDER BY start_s",
                            (call_id,)).fetchall()


def _human(page, index: int) -> str:
    return page.locator(f"#turn-list td.rv[data-turn='{index}'] .human").inner_text()


def test_reviewer_relabels_a_turn_by_keyboard_and_one_by_mouse_disputes_qa_and_sees_it_all_after_reload(browser, site):
    call_id = CALL_IDS[1]
    turns = _turns(site, call_id)
    context, page = _new_page(browser, "Ann Lee")
    try:
        _open_call(page, site, call_id)
        assert page.locator("#tl-inner .turn").count() == len(turns)  # the static page's timeline
        # keyboard: ArrowRight moves the playhead to the next turn (the static page's keys), "a" labels it angry
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("ArrowRight")
        page.wait_for_function("document.querySelector('#turn-list tr.current') !== null")
        current = int(page.locator("#turn-list tr.current td.rv").get_attribute("data-turn"))
        page.keyboard.press("a")
        _saved(page, f"turn {current} (")
        assert _human(page, current) == "angry"
        # mouse: the "S" (sad) button of another turn's row
        other = next(t[0] for t in turns if t[0] != current)
        page.locator(f"#turn-list td.rv[data-turn='{other}'] button[data-label='sad']").click()
        _saved(page, f"turn {other} (")
        assert _human(page, other) == "sad"
        # dispute the failed QA result with a comment
        row = page.locator("#qa-review tr", has=page.locator("span.status-pill.failed")).first
        rule = row.get_attribute("data-rule")
        row.locator("input.comment").fill("customer was on hold, the agent did not speak")
        row.locator("button[data-verdict='dispute']").click()
        _saved(page, f"{rule}: dispute saved")
        # a coaching note at the playhead
        page.fill("#note-text", "Good recovery after the hold")
        page.fill("#note-time", "4.5")
        page.click("#note-add")
        _saved(page, "note at 0:04.5 saved")
        page.reload()
        _ready(page)
        assert _human(page, current) == "angry" and _human(page, other) == "sad"
        assert page.locator(f"#turn-list td.rv[data-turn='{other}'] button.lbl.on").get_attribute("data-label") == "sad"
        assert sorted(page.locator("#tl-inner .turn.reviewed").evaluate_all("els => els.map(e => e.dataset.human)")) \
            == ["angry", "sad"]  # outlined on the timeline
        row = page.locator(f"#qa-review tr[data-rule='{rule}']")
        assert row.locator(".verdict").inner_text() == "dispute"
        assert row.locator(".saved-comment").inner_text() == "customer was on hold, the agent did not speak"
        assert row.locator(".by").inner_text() == "Ann Lee"
        assert page.locator("#notes-list li .note-text").all_inner_texts() == ["Good recovery after the hold"]
        assert page.problems == []
    finally:
        context.close()
    with _db(site) as conn:
        rows = conn.execute("SELECT turn_index, label, annotator FROM turn_labels WHERE call_id = ? ORDER BY seq",
                            (call_id,)).fetchall()
        assert rows == [(current, "angry", "Ann Lee"), (other, "sad", "Ann Lee")]
        machine = conn.execute("SELECT status FROM qa_results WHERE call_id = ? AND rule = ?", (call_id, rule)).fetchone()
        assert machine == ("failed",)  # the machine's outcome is kept beside the dispute


def test_two_browsers_editing_one_call_keep_both_edits_and_a_stale_overwrite_is_reported(browser, site):
    call_id = CALL_IDS[0]
    turns = _turns(site, call_id)
    ctx_a, ann = _new_page(browser, "ann")
    ctx_b, bob = _new_page(browser, "bob")
    try:
        _open_call(ann, site, call_id)
        _open_call(bob, site, call_id)  # both loaded before any edit
        t1, t2 = turns[0][0], turns[1][0]
        ann.locator(f"td.rv[data-turn='{t1}'] button[data-label='happy']").click()
        _saved(ann, f"turn {t1} (")
        bob.locator(f"td.rv[data-turn='{t2}'] button[data-label='neutral']").click()
        _saved(bob, f"turn {t2} (")
        # bob's page still shows t1 unlabelled: his change of it is refused and reported, not silently applied
        bob.locator(f"td.rv[data-turn='{t1}'] button[data-label='angry']").click()
        _saved(bob, "changed meanwhile by ann")
        assert _human(bob, t1) == "happy"  # his page now shows ann's label
        bob.locator(f"td.rv[data-turn='{t1}'] button[data-label='angry']").click()  # again: a deliberate overwrite
        _saved(bob, f"turn {t1} (")
        for page in (ann, bob):
            page.reload()
            _ready(page)
        assert (_human(ann, t1), _human(ann, t2)) == ("angry", "neutral") == (_human(bob, t1), _human(bob, t2))
        history = ann.locator(f"#turn-list td.rv[data-turn='{t1}'] .human").get_attribute("title").splitlines()
        assert [line.split(",")[0] for line in history[:2]] == ["bob", "ann"] and history[0].endswith("angry (was happy)")
        assert ann.problems == []
        assert [p for p in bob.problems if "status of 409 (CONFLICT)" not in p] == []  # the refused stale edit
    finally:
        ctx_a.close()
        ctx_b.close()
    with _db(site) as conn:
        history = conn.execute("SELECT label, previous_label, annotator FROM turn_labels WHERE call_id = ? "
                               "AND turn_index = ? ORDER BY seq", (call_id, t1)).fetchall()
    assert history == [("happy", None, "ann"), ("angry", "happy", "bob")]


def test_a_hostile_call_id_and_rule_message_are_shown_as_text_in_the_list_and_the_call_view(browser, site):
    hostile = "north/<img src=x onerror=window.__pwned=3>"
    with _db(site) as conn:
        (result_json,) = conn.execute("SELECT result_json FROM calls WHERE call_id = ?", (CALL_IDS[1],)).fetchone()
        result = json.loads(result_json)
        result["call_id"] = hostile
        result["warnings"] = ["<script>window.__pwned=4</script>"]
        conn.execute("INSERT INTO calls (call_id, path, qa_score, n_warnings, duration_s, result_json) "
                     "VALUES (?, ?, 10, 1, 12, ?)", (hostile, result["path"], json.dumps(result)))
        conn.execute("INSERT INTO qa_results (call_id, rule, status, message) VALUES (?, ?, 'failed', ?)",
                     (hostile, "<b>rule</b>", "<script>window.__pwned=5</script>"))
    context, page = _new_page(browser, "ann")
    try:
        page.goto(site["url"])
        assert hostile in page.locator("#calls tbody").inner_text()
        with page.expect_navigation():
            page.locator("#calls tbody a", has_text="onerror").click()
        _ready(page)
        assert page.locator("h1").inner_text() == hostile
        assert "<script>window.__pwned=5</script>" in page.locator("#qa-review").inner_text()
        assert page.locator("main img, #qa-review b, #qa-review script").count() == 0
        _shown_as_text_and_no_script_ran(page)
    finally:
        context.close()
        with _db(site) as conn:
            conn.execute("DELETE FROM qa_results WHERE call_id = ?", (hostile,))
            conn.execute("DELETE FROM calls WHERE call_id = ?", (hostile,))


def test_a_script_in_a_note_is_shown_as_text_and_never_runs(browser, site):
    context, page = _new_page(browser, "<b>mallory</b>")
    try:
        _open_call(page, site, CALL_IDS[0])
        page.fill("#note-text", SCRIPT_NOTE)
        page.fill("#note-time", "1")
        page.click("#note-add")
        _saved(page, "saved")
        page.reload()
        _ready(page)
        notes = page.locator("#notes-list li .note-text").all_inner_texts()
        assert SCRIPT_NOTE in notes
        assert "<b>mallory</b>" in page.locator("#notes-list").inner_text()
        assert page.locator("#notes-list img, #notes-list b, #notes-list script").count() == 0
        _shown_as_text_and_no_script_ran(page)
    finally:
        context.close()


def test_the_calls_list_filters_by_rule_and_text_and_links_to_the_call(browser, site):
    context, page = _new_page(browser, "ann")
    try:
        page.goto(site["url"])
        ids = "Array.from(document.querySelectorAll('#calls tbody tr[data-id]')).map(r => r.dataset.id)"
        assert page.evaluate(ids) == sorted(CALL_IDS)
        with _db(site) as conn:
            failed = conn.execute("SELECT call_id, rule FROM qa_results WHERE status = 'failed'").fetchall()
        page.select_option("#f-rule", failed[0][1])
        with page.expect_navigation():
            page.click("#f-apply")
        assert page.evaluate(ids) == sorted({c for c, r in failed if r == failed[0][1]})
        page.goto(site["url"] + "?q=2024-05-01")
        assert page.evaluate(ids) == [CALL_IDS[0]]
        with page.expect_navigation():
            page.click("#calls tbody a")
        assert page.locator("h1").inner_text() == CALL_IDS[0]
        assert page.problems == []
    finally:
        context.close()


def test_off_localhost_the_printed_link_opens_the_app_in_a_browser_and_writes_work(browser, site):
    server = start_server(site["results"], host="0.0.0.0")
    context, page = _new_page(browser, "remote reviewer")
    try:
        port = urllib.parse.urlsplit(server.url).port
        page.goto(f"http://127.0.0.1:{port}/?token={server.token}")
        assert "token" not in page.url  # moved into a cookie
        with page.expect_navigation():
            page.click("#calls tbody a")
        _ready(page)  # the audio loads with the cookie too
        page.fill("#reviewer", page.reviewer)
        index = page.locator("#turn-list td.rv").last.get_attribute("data-turn")
        page.locator(f"td.rv[data-turn='{index}'] button[data-label='unsure']").click()
        _saved(page, f"turn {index} (")
        assert page.problems == []
    finally:
        context.close()
        server.stop()


# -- HTTP-level checks -----------------------------------------------------------------------------


def _request(url: str, method: str = "GET", target: str = "/", headers: dict | None = None, body: bytes | None = None):
    """A raw request (the target is sent as given: no normalisation of ../ or %2e by a client library)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True, skip_host="Host" in (headers or {}))
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_a_range_request_returns_206_with_exactly_those_bytes(site):
    audio = site["root"] / "audio" / (CALL_IDS[0] + ".wav")
    data = audio.read_bytes()
    target = "/audio?" + urllib.parse.urlencode({"id": CALL_IDS[0]})
    status, headers, body = _request(site["url"], target=target, headers={"Range": "bytes=1000-4999"})
    assert status == 206 and body == data[1000:5000]
    assert headers["Content-Range"] == f"bytes 1000-4999/{len(data)}" and headers["Accept-Ranges"] == "bytes"
    status, _, body = _request(site["url"], target=target, headers={"Range": f"bytes={len(data) - 10}-"})
    assert status == 206 and body == data[-10:]
    status, _, body = _request(site["url"], target=target)
    assert status == 200 and body == data


def test_no_path_outside_the_results_and_the_analysed_audio_can_be_read(site, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    targets = ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
               "/audio?id=../../../../etc/passwd", "/audio?id=%2Fetc%2Fpasswd", "/audio?id=/etc/passwd",
               "/audio?id=" + urllib.parse.quote(str(secret)), "/call?id=../../etc/passwd",
               "/static/../../etc/passwd", "//etc/passwd", "/audio/../../etc/passwd",
               "/audio?id=" + urllib.parse.quote("north/../../" + str(secret)), "/results.sqlite", "/calls.csv"]
    for target in targets:
        status, _, body = _request(site["url"], target=target)
        assert status in (400, 404), (target, status)
        assert b"top secret" not in body and b"root:" not in body and b"SQLite format" not in body, target
    # the audio of a call replaced by a symlink to a file elsewhere (or by other content) is not served
    results = site["results"]
    with _db(site) as conn:
        (call_path,) = conn.execute("SELECT path FROM calls WHERE call_id = ?", (CALL_IDS[1],)).fetchone()
    original = Path(call_path)
    backup = original.with_suffix(".keep")
    original.rename(backup)
    try:
        original.symlink_to(secret)
        status, _, body = _request(site["url"], target="/audio?" + urllib.parse.urlencode({"id": CALL_IDS[1]}))
        assert status == 404 and b"top secret" not in body and b"link out of its folder" in body
        original.unlink()
        inside = original.with_name("other.wav")
        inside.write_bytes(b"RIFF not the analysed audio")
        original.symlink_to(inside.name)  # a link inside the folder, but to other content
        status, _, body = _request(site["url"], target="/audio?" + urllib.parse.urlencode({"id": CALL_IDS[1]}))
        assert status == 404 and b"changed since it was analysed" in body
        inside.unlink()
    finally:
        original.unlink(missing_ok=True)
        backup.rename(original)
    link = results / "leak.txt"
    link.symlink_to(secret)
    try:
        status, _, body = _request(site["url"], target="/leak.txt")
        assert status == 404 and b"top secret" not in body
    finally:
        link.unlink()


def _session(url: str, extra: dict | None = None) -> tuple[str, str]:
    """A session cookie and its CSRF token, as a page of the app gets them."""
    status, headers, body = _request(url, target="/call?" + urllib.parse.urlencode({"id": CALL_IDS[0]}),
                                     headers=extra or {})
    assert status == 200
    cookie = headers["Set-Cookie"].split(";")[0]
    data = body.decode().split('<script type="application/json" id="review-data">')[1].split("</script>")[0]
    return cookie, json.loads(data)["csrf"]


def test_a_write_without_the_csrf_token_or_from_another_origin_is_refused(site):
    url = site["url"]
    origin = url.rstrip("/")
    cookie, csrf = _session(url)
    with _db(site) as conn:
        (duration,) = conn.execute("SELECT duration_s FROM calls WHERE call_id = ?", (CALL_IDS[0],)).fetchone()
    body = json.dumps({"call_id": CALL_IDS[0], "time_s": 1.0, "text": "csrf probe", "annotator": "eve"}).encode()
    base = {"Content-Type": "application/json"}
    cases = {
        "no token": {**base, "Cookie": cookie, "Origin": origin},
        "wrong token": {**base, "Cookie": cookie, "Origin": origin, "X-CSRF-Token": "0" * 64},
        "token of another session": {**base, "Cookie": "review_session=other", "Origin": origin, "X-CSRF-Token": csrf},
        "no session": {**base, "Origin": origin, "X-CSRF-Token": csrf},
        "other origin": {**base, "Cookie": cookie, "Origin": "http://evil.example", "X-CSRF-Token": csrf},
        "no origin": {**base, "Cookie": cookie, "X-CSRF-Token": csrf},
    }
    for name, headers in cases.items():
        status, _, _ = _request(url, "POST", "/api/note", headers, body)
        assert status == 403, name
    with _db(site) as conn:
        assert conn.execute("SELECT COUNT(*) FROM coaching_notes WHERE text = 'csrf probe'").fetchone()[0] == 0
    status, _, reply = _request(url, "POST", "/api/note", {**base, "Cookie": cookie, "Origin": origin,
                                                          "X-CSRF-Token": csrf}, body)
    assert status == 200 and json.loads(reply)["row"]["text"] == "csrf probe" and duration > 1.0


def test_a_foreign_host_name_is_refused_on_localhost(site):
    status, _, _ = _request(site["url"], target="/", headers={"Host": "attacker.example:8765"})
    assert status == 403  # DNS rebinding: a page of another site resolving its name to 127.0.0.1


def test_off_localhost_every_request_needs_the_printed_token(site):
    server = start_server(site["results"], host="0.0.0.0")
    try:
        token = server.token
        assert token and len(token) >= 24 and f"?token={token}" in server.url
        port = urllib.parse.urlsplit(server.url).port
        base = f"http://127.0.0.1:{port}/"
        audio = "/audio?" + urllib.parse.urlencode({"id": CALL_IDS[0]})
        for target in ("/", audio, "/call?" + urllib.parse.urlencode({"id": CALL_IDS[0]}), "/api/call?id=x"):
            assert _request(base, target=target)[0] == 401, target
            assert _request(base, target=target, headers={"X-Review-Token": "wrong"})[0] == 401, target
        status, headers, _ = _request(base, target=f"/?token={token}")
        assert status == 302 and "token" not in headers["Location"]
        cookie = headers["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in headers["Set-Cookie"]
        assert _request(base, target="/", headers={"Cookie": cookie})[0] == 200
        assert _request(base, target=audio, headers={"X-Review-Token": token, "Range": "bytes=0-9"})[0] == 206
        assert _request(base, target=audio, headers={"Authorization": f"Bearer {token}"})[0] == 200
        # a write needs the token too, on top of the CSRF token
        session, csrf = _session(base, {"X-Review-Token": token})
        body = json.dumps({"call_id": CALL_IDS[0], "time_s": 1.0, "text": "x", "annotator": "eve"}).encode()
        status, _, _ = _request(base, "POST", "/api/note", {"Content-Type": "application/json", "Cookie": session,
                                                            "Origin": base.rstrip("/"), "X-CSRF-Token": csrf}, body)
        assert status == 401
    finally:
        server.stop()


def test_the_export_of_the_browser_edits_is_the_agreed_csv(site, capsys):
    from analyzer.outputs import annotations

    with _db(site) as conn:  # the browser tests' edits, plus one of its own (without chromium they are skipped)
        turn = conn.execute("SELECT turn_index, start_s, end_s FROM turns WHERE call_id = ? ORDER BY turn_index DESC",
                            (CALL_IDS[1],)).fetchone()
        previous = annotations.latest_turn_label(conn, CALL_IDS[1], turn[1], turn[2])
        annotations.label_turn(conn, call_id=CALL_IDS[1], turn_index=turn[0], start_s=turn[1], end_s=turn[2],
                               label="happy", annotator="exporter", expected_previous=previous and previous["label"])
        rule = conn.execute("SELECT rule FROM qa_results WHERE call_id = ? ORDER BY rule", (CALL_IDS[0],)).fetchone()[0]
        previous = annotations.latest_qa_review(conn, CALL_IDS[0], rule)
        annotations.review_qa(conn, call_id=CALL_IDS[0], rule=rule, verdict="dispute", comment="not so",
                              annotator="exporter", expected_previous=previous and previous["verdict"])
    out = site["root"] / "labels.csv"
    disputes = site["root"] / "disputes.csv"
    assert cli_main(["annotations", str(site["results"]), "--out", str(out), "--disputes", str(disputes)]) == 0
    header = out.read_text().splitlines()[0]
    assert header == "path,start_s,end_s,label,speaker,channel,call_id,turn_index,machine_label,annotator,annotated_at"
    rows = list(csv.DictReader(out.open()))
    assert rows and all(r["label"] in ("neutral", "happy", "angry", "sad") and Path(r["path"]).is_file() for r in rows)
    assert all(r["channel"] in ("0", "1") for r in rows)
    assert ("exporter", "happy") in {(r["annotator"], r["label"]) for r in rows}
    assert (CALL_IDS[0], rule, "not so", "exporter") in {(r["call_id"], r["rule"], r["comment"], r["annotator"])
                                                         for r in csv.DictReader(disputes.open())}


def test_the_serve_command_prints_the_address_and_off_localhost_the_token(site):
    import re
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "analyzer", "serve", str(site["results"]), "--host", "0.0.0.0",
                             "--port", "0"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stderr.readline() for _ in range(2)]
        match = re.search(r"open http://0\.0\.0\.0:(\d+)/\?token=(\S+)", lines[0])
        assert match, lines
        port, token = match.groups()
        assert f"access token (required on every request; the link above carries it once): {token}" in lines[1]
        base = f"http://127.0.0.1:{port}/"
        assert _request(base, target="/")[0] == 401
        assert _request(base, target="/", headers={"X-Review-Token": token})[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
