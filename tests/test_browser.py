"""The HTML pages in a real headless Chromium (Debian 'chromium' + Python 'playwright', no browser download).

Skipped, with the reason, when chromium or playwright is missing. Set UPDATE_SCREENSHOTS=1 to also
refresh docs/img/call-page.png.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from analyzer.outputs.html import page_href, page_path, relative_href, write_call_page, write_index
from analyzer.qa import evaluate, load_default_rules
from result_factory import make_result

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]
HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>window.__pwned=1</script>"
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img" / "call-page.png"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian package 'chromium' not installed "
                                "(apt-get install -y chromium); browser tests need the system browser")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python package 'playwright' not installed "
                                   "(pip install playwright; never 'playwright install')")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.problems = []
    page.dialogs = []
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
    page.on("pageerror", lambda exc: page.problems.append(f"page error: {exc}"))

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()


def write_wav(path: Path, duration_s: float) -> Path:
    """A quiet 220 Hz tone, 8 kHz 16-bit mono."""
    t = np.arange(int(duration_s * 8000)) / 8000
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.05 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 8000, subtype="PCM_16")
    return path


def build_site(root: Path, call: dict) -> tuple[Path, Path]:
    """audio/<call_id>.wav, html/<call_id>.html and html/index.html as the pipeline lays them out."""
    audio = write_wav(root / "audio" / (call["call_id"] + ".wav"), call["duration_s"])
    page_file = page_path(root / "html", call["call_id"])
    write_call_page(call, page_file, audio_href=relative_href(audio, page_file.parent))
    index = write_index([call], root / "html" / "index.html", page_hrefs={call["call_id"]: page_href(call["call_id"])})
    return page_file, index


def synthetic_envelope(call: dict) -> dict:
    """A loudness envelope as the pipeline writes it: loud inside each party's turns, quiet elsewhere."""
    from analyzer.frames import energy_envelope

    hop_s = 0.01
    energy = np.full((int(call["duration_s"] / hop_s), 2), -65.0, np.float32)
    rng = np.random.default_rng(0)
    for turn in call["turns"]:
        channel = 0 if turn["speaker"] == "agent" else 1
        span = slice(int(turn["start_s"] / hop_s), int(turn["end_s"] / hop_s))
        energy[span, channel] = -30.0 + 8.0 * rng.random(span.stop - span.start)
    return energy_envelope(energy, hop_s, ["agent", "customer"])


def demo_call() -> dict:
    call = make_result("north/2024-05-01/call-0001", duration_s=75.0, agent_interruptions=4, dead_air_s=(11.0,),
                       agent_angry_turns=(3,), valence_start=-0.6, valence_end=0.5, seed=7)
    call["qa"] = evaluate(load_default_rules(), call)
    call["envelope"] = synthetic_envelope(call)
    return call


def test_call_page_loads_clean_has_one_element_per_turn_and_click_seeks_audio(page, tmp_path):
    call = demo_call()
    page_file, _ = build_site(tmp_path, call)
    page.goto(page_file.as_uri())
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.locator("#tl-inner .turn").count() == len(call["turns"])
    target = [t for t in call["turns"] if t["speaker"] == "customer"][3]
    page.locator(f"#lane-customer .turn[data-start='{target['start_s']}']").click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {target['start_s']}) < 0.75")
    position = page.evaluate("document.getElementById('player').currentTime")
    assert position == pytest.approx(target["start_s"], abs=0.75)
    assert page.locator("#now").inner_text().startswith(f"{int(target['start_s'] // 60)}:")
    # clicking an event (a dead-air stretch) seeks too
    dead = next(e for e in call["events"] if e["kind"] == "dead_air")
    page.locator("#lane-silence .ev-dead_air").first.click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {dead['start_s']}) < 0.75")
    page.locator("button[data-zoom='2']").click()
    assert page.evaluate("document.getElementById('tl-inner').style.width") == "200%"
    page.evaluate("document.getElementById('player').pause()")
    page.screenshot(path=str(tmp_path / "call-page.png"), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.locator("button[data-zoom='0']").click()
        page.evaluate("document.getElementById('player').currentTime = 0")
        DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG), full_page=True)
    assert (tmp_path / "call-page.png").stat().st_size > 10_000
    assert page.problems == []


def test_index_loads_clean_sorts_filters_and_links_to_call_pages(page, tmp_path):
    calls = [make_result(f"team/call-{k}", seed=k, agent_interruptions=2 * k) for k in range(4)]
    for call in calls:
        call["qa"] = evaluate(load_default_rules(), call)
    hrefs = {}
    for call in calls:
        target = page_path(tmp_path / "html", call["call_id"])
        write_call_page(call, target, audio_href=None)
        hrefs[call["call_id"]] = page_href(call["call_id"])
    index = write_index(calls, tmp_path / "html" / "index.html", page_hrefs=hrefs)
    page.goto(index.as_uri())
    ids = "Array.from(document.querySelectorAll('#calls tbody tr')).map(r => r.dataset.id)"
    assert page.evaluate(ids) == [c["call_id"] for c in calls]
    header = page.locator("#calls th", has_text="agent interrupts")
    header.click()
    header.click()  # descending
    assert page.evaluate(ids) == [c["call_id"] for c in reversed(calls)]
    assert header.get_attribute("aria-sort") == "descending"
    page.fill("#f-text", "call-2")
    assert page.locator("#calls tbody tr:visible").count() == 1
    assert page.inner_text("#shown") == "1"
    page.fill("#f-text", "")
    interrupting = sum("agent_interrupts_over_3" in [f["rule"] for f in c["qa"]["failed"]] for c in calls)
    for words in ("agent_interrupts", "agent interrupts over 3"):  # the rule id or its readable name
        page.fill("#f-rule", words)
        assert page.inner_text("#shown") == str(interrupting) == "2"
    page.fill("#f-rule", "")
    with page.expect_navigation():
        page.click("a[href='team/call-1.html']")
    assert page.url.endswith("/team/call-1.html")
    assert page.locator("#tl-inner .turn").count() == len(calls[1]["turns"])
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    assert page.problems == []


def test_hostile_file_name_executes_no_script(page, tmp_path):
    call = make_result(HOSTILE, path=f"/calls/{HOSTILE}.wav", dead_air_s=(6.0,), agent_interruptions=4, seed=3)
    call["warnings"] = [SCRIPT]
    call["qa"] = evaluate(load_default_rules(), call)
    call["qa"]["failed"].append({"rule": SCRIPT, "severity": "major", "weight": 1.0, "message": HOSTILE,
                                 "value": 1, "threshold": 0, "times": [[1.0, 2.0]]})
    page_file, index = build_site(tmp_path, call)
    assert page_file.name == HOSTILE + ".html"
    page.goto(index.as_uri())
    assert page.locator("#calls tbody tr").count() == 1
    with page.expect_navigation():
        page.click("#calls a")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.locator("h1").inner_text() == HOSTILE
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0
    assert page.dialogs == []
    assert page.problems == []


def test_call_page_shows_the_transcript_and_clicking_a_word_seeks_and_highlights_it(page, tmp_path):
    call = demo_call()
    for turn in call["turns"]:  # two words per turn, as analyze --transcribe writes them
        a, b = turn["start_s"], turn["end_s"]
        mid = round((a + b) / 2, 3)
        turn["words"] = [{"word": f"w{turn['index']}a", "start_s": a, "end_s": mid, "confidence": 0.9},
                         {"word": f"w{turn['index']}b.", "start_s": mid, "end_s": b, "confidence": 0.3}]
        turn["text"] = " ".join(w["word"] for w in turn["words"])
    call["asr"] = {"enabled": True, "model": "whisper-base", "language": "en", "language_forced": False}
    page_file, _ = build_site(tmp_path, call)
    page.goto(page_file.as_uri())
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.locator("#transcript .tr-turn").count() == len(call["turns"])
    assert page.locator("#transcript .w").count() == 2 * len(call["turns"])
    assert page.locator("#transcript .w.low").count() == len(call["turns"])  # confidence 0.3 shown as low
    target = call["turns"][5]["words"][1]
    page.locator(f"#transcript .w[data-w='{target['start_s']}']").click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {target['start_s']}) < 0.3")
    page.wait_for_function("document.querySelector('#transcript .w.now') !== null")
    page.evaluate("document.getElementById('player').pause()")
    assert page.locator("#transcript .w.now").first.inner_text() in (target["word"], call["turns"][5]["words"][0]["word"],
                                                                      call["turns"][6]["words"][0]["word"])
    assert page.problems == []


def site_of_three(root: Path) -> tuple[list[dict], Path]:
    """Three calls with real audio, written by write_pages (pages with index and previous/next links)."""
    from analyzer.outputs.html import write_pages

    calls = []
    for k in range(3):
        call_id = f"north/2024-05-01/call-{k}"
        call = make_result(call_id, duration_s=75.0, agent_interruptions=4, dead_air_s=(11.0,),
                           agent_angry_turns=(3,), seed=7 + k, path=str(root / "audio" / f"{call_id}.wav"))
        write_wav(Path(call["path"]), call["duration_s"])
        call["envelope"] = synthetic_envelope(call)
        call["qa"] = evaluate(load_default_rules(), call)
        calls.append(call)
    index = write_pages(root, calls)
    return calls, index


def _player_time(page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def test_keyboard_moves_the_playhead_between_turns_and_events_plays_and_zooms(page, tmp_path):
    calls, _ = site_of_three(tmp_path)
    call = calls[1]
    page.goto(page_path(tmp_path / "html", call["call_id"]).as_uri())
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    starts = sorted(t["start_s"] for t in call["turns"])
    page.locator("h1").click()  # focus the page, not a control
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {starts[0]}) < 0.01")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {starts[1]}) < 0.01")
    assert _player_time(page) == pytest.approx(starts[1], abs=0.01)
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {starts[0]}) < 0.01")
    events = sorted({e["start_s"] for e in call["events"] if e["kind"] != "pause"})
    page.keyboard.press("Shift+ArrowRight")
    expected = next(t for t in events if t > starts[0] + 0.05)
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {expected}) < 0.01")
    assert page.evaluate("document.getElementById('player').paused")  # moving does not start playback
    page.keyboard.press(" ")
    page.wait_for_function("!document.getElementById('player').paused")
    page.keyboard.press(" ")
    page.wait_for_function("document.getElementById('player').paused")
    page.keyboard.press("+")
    assert page.evaluate("document.getElementById('tl-inner').style.width") == "200%"
    page.keyboard.press("-")
    assert page.evaluate("document.getElementById('tl-inner').style.width") == "100%"
    # accessible timeline items, warnings-free stereo page, navigation links, envelope drawn
    first = page.locator("#lane-agent .turn").first
    assert first.get_attribute("role") == "button" and first.get_attribute("tabindex") == "0"
    assert first.get_attribute("aria-label").startswith("agent turn 0, 0:00.3 to")
    assert page.locator("#envelope-agent path").count() == 1
    assert page.get_attribute("#nav-prev", "href").endswith("call-0.html")
    assert page.get_attribute("#nav-next", "href").endswith("call-2.html")
    with page.expect_navigation():
        page.click("#nav-index")
    assert page.url.endswith("/index.html")
    assert page.problems == []


def test_clicking_a_turn_list_row_seeks_and_the_list_follows_playback(page, tmp_path):
    calls, _ = site_of_three(tmp_path)
    call = calls[0]
    page.goto(page_path(tmp_path / "html", call["call_id"]).as_uri())
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    rows = page.locator("#turn-list tbody tr")
    assert rows.count() == len(call["turns"])
    target = sorted(call["turns"], key=lambda t: t["start_s"])[6]
    rows.nth(6).click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {target['start_s']}) < 0.75")
    page.evaluate("document.getElementById('player').pause()")
    assert page.get_attribute("#turn-list tr.current", "data-start") == str(target["start_s"])
    assert page.get_attribute("#turn-list tr.current", "aria-current") == "true"
    # zoomed in, the timeline scrolls so the playhead stays in view
    page.click("button[data-zoom='2']")
    page.click("button[data-zoom='2']")
    page.click("button[data-zoom='2']")
    late = sorted(call["turns"], key=lambda t: t["start_s"])[-2]
    page.evaluate(f"document.getElementById('player').currentTime = {late['start_s']}")
    page.wait_for_function("document.getElementById('tl-scroll').scrollLeft > 0")
    in_view = page.evaluate("""() => { const s = document.getElementById('tl-scroll'), h = document.getElementById('playhead');
        const x = h.offsetLeft; return x >= s.scrollLeft && x <= s.scrollLeft + s.clientWidth; }""")
    assert in_view
    # the time of peak customer anger is a link that plays it
    peak = call["metrics"]["peak_customer_anger_s"]
    page.click("a.mt")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {peak}) < 0.75")
    page.evaluate("document.getElementById('player').pause()")
    page.screenshot(path=str(tmp_path / "call-page-keyboard.png"), full_page=True)
    assert (tmp_path / "call-page-keyboard.png").stat().st_size > 10_000
    assert page.problems == []


def _many_calls(n: int) -> list[dict]:
    """n index rows: a few real results copied under new call_ids with varied metrics (cheap)."""
    templates = []
    for k in range(5):
        call = make_result(f"t/{k}", seed=k, agent_interruptions=k, dead_air_s=(6.0,) * (k % 3))
        call["qa"] = evaluate(load_default_rules(), call)
        templates.append(call)
    rng = np.random.default_rng(0)
    calls = []
    for k in range(n):
        base = templates[k % len(templates)]
        metrics = dict(base["metrics"], duration_s=float(rng.uniform(60, 900)),
                       agent_latency_median_s=round(float(rng.uniform(0.2, 2.0)), 3))
        said = " ".join(f"w{int(i)}" for i in rng.zipf(1.3, 60) % 20000) + (" cancel" if k % 7 == 0 else "")
        turns = [dict(base["turns"][0], text=said)] + base["turns"][1:]  # a transcript of 61 words, 2% of a call's
        calls.append({**base, "call_id": f"team-{k % 20:02d}/2024-05-{1 + k % 28:02d}/call-{k:05d}", "metrics": metrics,
                      "qa": dict(base["qa"], score=float(round(rng.uniform(40, 100), 1))), "turns": turns})
    return calls


def test_index_of_5000_calls_renders_filters_pages_totals_and_exports_fast(page, tmp_path):
    import time

    calls = _many_calls(5000)
    index = write_index(calls, tmp_path / "index.html", page_hrefs={c["call_id"]: page_href(c["call_id"]) for c in calls})
    start = time.perf_counter()
    page.goto(index.as_uri())
    page.wait_for_function("document.getElementById('page-info').textContent.indexOf('of 5000') > 0")
    load_s = time.perf_counter() - start
    assert page.locator("#calls tbody tr:visible").count() == 100
    start = time.perf_counter()
    page.fill("#f-text", "team-03/")
    page.wait_for_function("document.getElementById('shown').textContent === '250'")
    filter_s = time.perf_counter() - start
    print(f"5000-call index: load {load_s:.2f} s, filter {filter_s:.2f} s, {index.stat().st_size / 1e6:.1f} MB")
    assert load_s < 2.0 and filter_s < 2.0
    assert page.locator("#calls tbody tr:visible").count() == 100
    page.click("#page-next")
    page.click("#page-next")
    assert page.locator("#calls tbody tr:visible").count() == 50
    shown = [c for c in calls if "team-03/" in c["call_id"]]
    mean_latency = np.mean([c["metrics"]["agent_latency_median_s"] for c in shown])
    latency_col = 2 + [k for k, _ in __import__("analyzer.outputs.html", fromlist=["x"]).INDEX_COLUMNS].index("agent_latency_median_s")
    assert page.inner_text(f"#row-mean td:nth-child({latency_col + 1})") == f"{mean_latency:.2f} s"
    assert ":" in page.inner_text("#row-total td:nth-child(3)")  # total duration as h:mm:ss
    first = page.locator("#calls tbody tr:visible td").first.inner_text()
    assert first.startswith("team-03/")
    assert page.locator("#calls tbody tr:visible td:nth-child(3)").first.inner_text().count(":") >= 1  # mm:ss
    with page.expect_download() as download:
        page.click("#export")
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 251 and lines[0].startswith("call_id,qa_score,duration_s,talk_ratio_agent (0-1)")
    assert {line.split(",")[0] for line in lines[1:]} == {c["call_id"] for c in shown}
    start = time.perf_counter()
    page.fill("#f-text", "cancel")  # loads search-index.js, then finds the calls that said it
    page.wait_for_function(f"document.getElementById('shown').textContent === '{sum(k % 7 == 0 for k in range(5000))}'")
    search_s = time.perf_counter() - start
    words_kb = (tmp_path / "search-index.js").stat().st_size / 1e3
    print(f"5000-call words search: {search_s:.2f} s with loading, search-index.js {words_kb:.0f} kB")
    assert search_s < 2.0
    page.fill("#f-text", "")
    page.fill("#f-score", "50")
    expected = sum(c["qa"]["score"] <= 50 for c in calls)
    page.wait_for_function(f"document.getElementById('shown').textContent === '{expected}'")
    page.screenshot(path=str(tmp_path / "index-5000.png"))
    assert (tmp_path / "index-5000.png").stat().st_size > 10_000
    assert page.problems == []


def _say(turn: dict, text: str) -> None:
    """Give a turn a transcript as analyze --transcribe writes it: the words spread evenly over the turn."""
    words = text.split()
    step = (turn["end_s"] - turn["start_s"]) / len(words)
    turn["words"] = [{"word": w, "start_s": round(turn["start_s"] + k * step, 3),
                      "end_s": round(turn["start_s"] + (k + 1) * step, 3), "confidence": 0.9} for k, w in enumerate(words)]
    turn["text"] = text


def test_index_search_finds_calls_by_words_said_and_by_path_and_leads_to_the_word(page, tmp_path):
    from analyzer.outputs.html import write_pages

    calls = []
    for k, lines in enumerate((("Good morning, how can I help?", "I want to cancel my contract."),
                               ("Thank you for calling.", "My car makes a noise, the brakes. Grüße, zażółć, naïve."),
                               None)):  # the third call was analysed without --transcribe
        call = make_result(f"north/call-{k}", duration_s=40.0, seed=k, path=str(tmp_path / "audio" / f"rec-{k}.wav"))
        write_wav(Path(call["path"]), call["duration_s"])
        if lines:
            for turn in call["turns"]:
                _say(turn, lines[turn["index"] % 2] if turn["index"] < 4 else "okay.")
            call["asr"] = {"enabled": True, "model": "whisper-base", "language": "en", "language_forced": False}
        calls.append(call)
    target = calls[0]["turns"][1]  # the first of the two turns (1 and 3) that say "cancel"
    index = write_pages(tmp_path, calls)
    assert (tmp_path / "search-index.js").is_file()
    page.goto(index.as_uri())
    visible = "Array.from(document.querySelectorAll('#calls tbody tr')).filter(r => !r.hidden).map(r => r.dataset.id)"
    page.fill("#f-text", "cancel")
    page.wait_for_function("document.getElementById('shown').textContent === '1'")
    assert page.evaluate(visible) == ["north/call-0"]
    assert page.inner_text("#calls tbody tr:visible .said") == "said: cancel"
    for query, expected in (("CONTR canc", ["north/call-0"]), ("Cancél", ["north/call-0"]), ("brake", ["north/call-1"]),
                            ("okay", ["north/call-0", "north/call-1"]), ("cancel brakes", []),
                            ("rec-2", ["north/call-2"]),  # the file path
                            ("call-1 thank", ["north/call-1"]), ("zebra", []),
                            ("GRÜ", ["north/call-1"]), ("ZAZOŁ", ["north/call-1"]), ("naive", ["north/call-1"])):
        page.fill("#f-text", query)
        page.wait_for_function(f"document.getElementById('shown').textContent === '{len(expected)}'")
        assert page.evaluate(visible) == expected, query
    page.fill("#f-text", "cancel")
    page.wait_for_function("document.getElementById('shown').textContent === '1'")
    with page.expect_navigation():
        page.click("#calls tbody tr:visible a")
    assert page.url.endswith("/html/north/call-0.html#q=cancel")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    hits = page.locator("#transcript .w.hit")
    assert hits.count() == 2 and hits.all_inner_texts() == ["cancel", "cancel"]
    cancel = next(w for w in target["words"] if w["word"] == "cancel")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {cancel['start_s']}) < 0.3")
    assert "match" in page.inner_text("#tr-query")
    assert page.problems == []


def test_index_search_without_the_words_file_still_searches_ids_and_says_why(page, tmp_path):
    call = make_result("team/call-9", duration_s=30.0, seed=1)
    for turn in call["turns"]:
        _say(turn, "hello there")
    index = write_index([call, make_result("team/other", seed=2)], tmp_path / "index.html",
                        page_hrefs={"team/call-9": "team/call-9.html"})
    (tmp_path / "search-index.js").unlink()
    page.goto(index.as_uri())
    page.fill("#f-text", "call-9")
    page.wait_for_function("document.getElementById('search-status').textContent.indexOf('missing') >= 0")
    assert page.inner_text("#shown") == "1"
    page.fill("#f-text", "hello")
    assert page.inner_text("#shown") == "0"
    page.problems = [p for p in page.problems if "search-index.js" not in p and "ERR_FILE_NOT_FOUND" not in p]
    assert page.problems == []
