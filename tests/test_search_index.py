"""The index page's transcript search file (analyzer/outputs/search_index.py): terms, postings, size, writing.

The page's use of it (typing a word shows the matching calls) is checked in tests/test_browser.py.
"""

from __future__ import annotations

import json

from analyzer.outputs.html import write_index
from analyzer.outputs.search_index import SEARCH_INDEX_NAME, build_search_index, search_index_script, search_terms


def _call(call_id: str, *texts: str) -> dict:
    return {"call_id": call_id, "turns": [{"index": k, "speaker": "agent", "start_s": float(k), "end_s": k + 0.9,
                                           "text": text} for k, text in enumerate(texts)]}


def _decode(index: dict) -> dict[str, list[str]]:
    """term -> call ids, by reading the postings back as the page's script does (base-36 gaps)."""
    out = {}
    for term, posting in zip(index["terms"], index["postings"]):
        number, ids = 0, []
        for gap in posting.split(","):
            number += int(gap, 36)
            ids.append(index["ids"][number])
        out[term] = ids
    return out


def test_search_terms_fold_case_and_accents_and_split_at_punctuation():
    assert search_terms("Grüß Gott, don't CANCEL!") == ["gruß", "gott", "don", "t", "cancel"]
    assert search_terms("Café naïve 24/7") == ["cafe", "naive", "24", "7"]
    assert search_terms("zażółć gęślą") == ["zazołc", "gesla"]  # ł is a letter of its own, not l + mark
    assert search_terms("...") == []


def test_each_word_of_a_call_is_posted_once_and_calls_without_text_are_left_out():
    calls = [_call("a", "I want to cancel.", "Cancel it, please"), _call("silent"), _call("b", "Thank you, I want it"),
             *[_call(f"n{k}", "filler") for k in range(40)], _call("z", "cancel")]
    index = build_search_index(calls)
    assert index["ids"][:2] == ["a", "b"] and "silent" not in index["ids"] and len(index["ids"]) == 43
    assert index["terms"] == sorted(index["terms"]) and len(set(index["terms"])) == len(index["terms"])
    posted = _decode(index)
    assert posted["cancel"] == ["a", "z"]  # said twice in a, posted once
    assert posted["want"] == ["a", "b"] and posted["thank"] == ["b"]
    assert len(posted["filler"]) == 40
    assert index["postings"][index["terms"].index("cancel")] == "0,16"  # calls 0 and 42: gaps 0 and 42 = "16" in base 36
    assert build_search_index([_call("x"), {"call_id": "y", "turns": []}]) is None


def test_the_script_assigns_the_index_and_cannot_close_a_script_element():
    index = build_search_index([_call("</script><script>alert(1)</script>", "hello </script>")])
    text = search_index_script(index)
    assert "</script>" not in text and "<" not in text.split("=", 1)[1]
    assert text.startswith("/*") and "window.callAnalyzerSearch = " in text
    data = json.loads(text.split("window.callAnalyzerSearch = ", 1)[1].rstrip().rstrip(";"))
    assert data == index and data["ids"] == ["</script><script>alert(1)</script>"]


def test_write_index_writes_the_search_file_beside_it_only_with_transcripts(tmp_path):
    calls = [_call("team/a", "cancel my contract"), _call("team/b")]
    page = write_index(calls, tmp_path / "index.html", page_hrefs={})
    script = tmp_path / SEARCH_INDEX_NAME
    stamp = build_search_index(calls)["stamp"]
    assert script.is_file() and stamp in script.read_text() and stamp in page.read_text()
    assert '"file": "search-index.js"' in page.read_text()
    write_index([_call("team/b")], tmp_path / "index.html", page_hrefs={})  # no transcript any more: no stale file
    assert not script.exists() and '"search": null' in page.read_text()
