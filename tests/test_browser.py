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


def demo_call() -> dict:
    call = make_result("north/2024-05-01/call-0001", duration_s=75.0, agent_interruptions=4, dead_air_s=(11.0,),
                       agent_angry_turns=(3,), valence_start=-0.6, valence_end=0.5, seed=7)
    call["qa"] = evaluate(load_default_rules(), call)
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
    calls = [make_result(f"team/call-{k}", seed=k, agent_interruptions=k) for k in range(4)]
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
    page.fill("#f-text", "call-2")
    assert page.locator("#calls tbody tr:visible").count() == 1
    assert page.inner_text("#shown") == "1"
    page.fill("#f-text", "")
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
