"""QA scorecard: a rules file turns a call's metrics and events into weighted pass/fail checks.

A rules file (TOML or YAML) has an optional ``version`` and a list ``rules``;
each rule has ``id``, ``type``, ``severity`` (critical/major/minor), ``weight``,
an optional ``message`` (may use ``{value}``, ``{threshold}``, ``{count}``) and
optional ``auto_fail``, plus the parameters of its type:

=======================  =====================================================
type                     parameters -> fails when
=======================  =====================================================
``metric``               ``metric``, ``min`` and/or ``max`` -> value outside
``dead_air``             ``max_s`` -> any silence (dead_air/hold event) longer
``agent_interruptions``  ``max_count`` [``outcome`` any/successful] -> more
                         agent interruptions than that
``agent_latency``        ``max_s`` [``max_count`` = 0] -> more than max_count
                         agent answers (gap events) slower than max_s
``customer_ending_angry`` any of ``valence_below``, ``last_turns`` (with
                         ``min_confidence`` = 0), ``anger_rise_above``,
                         ``end_anger_above`` -> the customer's end valence is
                         below it; or at least half of the last scored customer
                         turns are angry with p_angry >= min_confidence; or the
                         mean p_angry of the last third of the customer's speech
                         exceeds that of the earlier turns by more than
                         anger_rise_above; or it is above end_anger_above
``agent_angry``          [``min_confidence`` = 0, ``max_count`` = 0] -> more
                         agent turns labelled angry with p_angry >= min_confidence
                         than max_count
``must_say``             ``phrases`` [``party`` = agent, ``within_first_s``,
                         ``within_last_s``, ``tolerance`` = 0.2, ``match`` =
                         any] -> none (any) / not every (all) phrase was said
``must_not_say``         ``phrases`` [same options] -> a phrase was said
=======================  =====================================================

The two emotion rules may carry ``by_model``: a table from an emotion model's name (the
result's ``versions.emotion_model``, e.g. ``emotion-multi-v2``) to that type's parameters,
which then *replace* the rule's own parameters on calls scored by that model (each model's
probabilities are calibrated differently; docs/qa.md).

The phrase rules need a transcript (``analyze --transcribe``) and are skipped without one.

Score = 100 x (weight of passed rules) / (weight of evaluated rules); rules that
cannot be evaluated on a call (metric null, emotion off) are *skipped*, not failed,
and leave the denominator. A failed ``auto_fail`` rule sets the score to 0.
See docs/qa.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .metrics.catalog import METRICS
from .metrics.emotion import customer_end_anger
from .errors import ConfigError

SEVERITIES = ("critical", "major", "minor")
DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "default_rules.toml"

_COMMON_KEYS = {"id", "type", "severity", "weight", "message", "auto_fail", "description"}
_PHRASE_KEYS = {"phrases": (list,), "party": (str,), "within_first_s": (int, float), "within_last_s": (int, float),
                "tolerance": (int, float), "match": (str,)}
PHRASE_PARTIES = ("agent", "customer", "any")
_TYPE_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "metric": {"metric": (str,), "min": (int, float), "max": (int, float)},
    "dead_air": {"max_s": (int, float)},
    "agent_interruptions": {"max_count": (int,), "outcome": (str,)},
    "agent_latency": {"max_s": (int, float), "max_count": (int,)},
    "customer_ending_angry": {"valence_below": (int, float), "last_turns": (int,), "min_confidence": (int, float),
                              "anger_rise_above": (int, float), "end_anger_above": (int, float)},
    "agent_angry": {"min_confidence": (int, float), "max_count": (int,)},
    "must_say": dict(_PHRASE_KEYS),
    "must_not_say": dict(_PHRASE_KEYS),
}
_REQUIRED = {
    "metric": ("metric",), "dead_air": ("max_s",), "agent_interruptions": ("max_count",),
    "agent_latency": ("max_s",), "customer_ending_angry": (), "agent_angry": (),
    "must_say": ("phrases",), "must_not_say": ("phrases",),
}
_ENDING_TRIGGERS = ("valence_below", "last_turns", "anger_rise_above", "end_anger_above")
_DEFAULT_MESSAGES = {
    "metric": "{label} {value} outside {threshold}",
    "dead_air": "Dead air longer than {threshold} s ({count}x, longest {value} s)",
    "agent_interruptions": "Agent interrupted the customer {value} times (limit {threshold})",
    "agent_latency": "Agent answered {count} times slower than {threshold} s (slowest {value} s)",
    "customer_ending_angry": "Customer ended the call upset: {trigger}",
    "agent_angry": "Agent sounded angry in {count} turn(s): {trigger}",
    "must_say": "Expected phrase not said: {value}",
    "must_not_say": "Forbidden phrase said {count}x: {value}",
}


@dataclass(frozen=True)
class Rule:
    """One check. ``params`` holds the type's parameters (see the module docstring)."""

    id: str
    type: str
    severity: str
    weight: float
    message: str | None = None
    auto_fail: bool = False
    params: tuple[tuple[str, Any], ...] = ()
    by_model: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    def for_model(self, model: str | None) -> "Rule":
        """This rule with the parameters of ``by_model[model]`` when it has an entry for that emotion model."""
        own = dict(self.by_model).get(model) if model else None
        return self if own is None else dataclasses.replace(self, params=own, by_model=())


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order; ``version`` names them in every score."""

    version: str
    rules: tuple[Rule, ...]
    source: str = field(default="", compare=False)


# --------------------------------------------------------------------------- loading


def _line_of(text: str, *needles: str) -> int | None:
    """1-based number of the first line containing all needles (for error messages)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if all(n in line for n in needles):
            return number
    return None


def _fail(path: str, text: str, reason: str, *needles: str) -> ConfigError:
    line = _line_of(text, *needles) if needles else None
    where = f"{path}, line {line}" if line else path
    return ConfigError(reason, path=where)


RULES_MAX_BYTES = 1 << 20
"""A rules file larger than this (1 MiB) is refused unread."""
MAX_RULES = 1000
MAX_YAML_NODES = 100_000
"""YAML anchors and aliases may not expand the document past this many nodes (no 'billion laughs')."""
MAX_WEIGHT = 1000.0
MAX_ABS_THRESHOLD = 1e9
MAX_MESSAGE_CHARS = 500
"""A message template is at most this long, and so is the message it formats to (format widths included)."""
MAX_FORMAT_WIDTH = 64
MAX_TEXT_CHARS = 200  # ids, versions, metric names, descriptions stay short


def _yaml_nodes(node, memo: dict, visiting: set) -> int:
    """How many nodes ``node`` expands to with every alias resolved (memoised: shared nodes count per use)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in visiting:
        raise ValueError("a YAML alias refers to itself (recursive structure)")
    visiting.add(key)
    children = node.value if isinstance(node.value, list) else []
    total = 1
    for child in children:
        for part in (child if isinstance(child, tuple) else (child,)):
            total += _yaml_nodes(part, memo, visiting)
            if total > MAX_YAML_NODES:
                break
    visiting.discard(key)
    memo[key] = total
    return total


def _load_yaml(text: str):
    """``yaml.safe_load`` that refuses documents whose aliases expand past :data:`MAX_YAML_NODES` nodes."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _yaml_nodes(node, {}, set())
        if size > MAX_YAML_NODES:
            raise ValueError(f"anchors and aliases expand it to more than {MAX_YAML_NODES} nodes ('billion laughs'); "
                             "write the rules out instead")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _parse(path: Path, text: str) -> dict:
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = _load_yaml(text)
        except ValueError as exc:
            raise ConfigError(f"invalid YAML: {exc}", path=str(path)) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
            raise ConfigError(f"invalid YAML: {' '.join(str(problem).split())}; fix the syntax there",
                              path=where) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = " ".join(str(exc).split())
            match = re.search(r"line (\d+)", message)
            where = f"{path}, line {match.group(1)}" if match else str(path)
            raise ConfigError(f"invalid TOML: {message}; fix the syntax there", path=where) from None
    if not isinstance(data, dict):
        raise ConfigError("a rules file must be a table with a 'rules' list; see docs/qa.md", path=str(path))
    return data


def parse_rules(data: dict, *, source: str = "rules", text: str = "") -> RuleSet:
    """Validate a rules mapping (as parsed from TOML/YAML) into a :class:`RuleSet`.

    Every problem raises :class:`ConfigError` naming the source, the line (found by
    searching ``text`` for the offending rule or value) and the problem.
    """
    unknown_top = set(data) - {"version", "rules", "description"}
    if unknown_top:
        key = sorted(unknown_top)[0]
        raise _fail(source, text, f"unknown top-level key {key!r}; a rules file has 'version' and 'rules'", key)
    items = data.get("rules")
    if not isinstance(items, list) or not items:
        raise _fail(source, text, "no rules: add [[rules]] tables (TOML) or a 'rules:' list (YAML); see docs/qa.md")
    if len(items) > MAX_RULES:
        raise _fail(source, text, f"{len(items)} rules; allowed: at most {MAX_RULES}")
    for key in ("version", "description"):
        if key in data and (not isinstance(data[key], (str, int, float)) or len(str(data[key])) > MAX_TEXT_CHARS):
            raise _fail(source, text, f"{key} must be a string of at most {MAX_TEXT_CHARS} characters", key)
    rules, seen = [], set()
    for number, item in enumerate(items, start=1):
        rules.append(_parse_rule(item, number, source=source, text=text, seen=seen))
    version = data.get("version")
    if version is None:
        version = f"{Path(source).stem}@{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return RuleSet(str(version), tuple(rules), source)


def _parse_rule(item: Any, number: int, *, source: str, text: str, seen: set[str]) -> Rule:
    if not isinstance(item, dict):
        raise _fail(source, text, f"rule #{number} is not a table of keys")
    rid = item.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise _fail(source, text, f"rule #{number} has no 'id' (a short name like 'dead_air_10s')")
    if len(rid) > MAX_TEXT_CHARS:
        raise _fail(source, text, f"rule #{number}: id is {len(rid)} characters; allowed: at most {MAX_TEXT_CHARS}")
    anchor = (f'"{rid}"',) if _line_of(text, f'"{rid}"') else (rid,)

    def fail(reason: str, *needles: str) -> ConfigError:
        for probe in (needles, anchor):
            if probe and _line_of(text, *probe):
                return _fail(source, text, f"rule {rid!r}: {reason}", *probe)
        return _fail(source, text, f"rule {rid!r}: {reason}")

    if rid in seen:
        raise fail("duplicate id; give each rule its own id")
    seen.add(rid)
    rtype = item.get("type")
    if rtype not in _TYPE_KEYS:
        raise fail(f"unknown type {rtype!r}; use one of {', '.join(_TYPE_KEYS)}", str(rtype))
    allowed = _TYPE_KEYS[rtype]
    by_model = _parse_by_model(item, number, rtype, source=source, text=text, fail=fail)
    for key in item:
        if key == "by_model" and rtype in _EMOTION_RULES:
            continue
        if key not in _COMMON_KEYS and key not in allowed:
            raise fail(f"unknown key {key!r} for type {rtype!r}; allowed: {', '.join(sorted(allowed))}", key)
    for key in _REQUIRED[rtype]:
        if key not in item:
            raise fail(f"type {rtype!r} needs {key!r}")
    severity = item.get("severity", "major")
    if severity not in SEVERITIES:
        raise fail(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}", str(severity))
    weight = item.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= MAX_WEIGHT:
        raise fail(f"weight must be a positive number, got {weight!r}; allowed: > 0 and <= {MAX_WEIGHT:g}", "weight")
    description = item.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_TEXT_CHARS):
        raise fail(f"description must be a string of at most {MAX_TEXT_CHARS} characters", "description")
    params = []
    for key, types in allowed.items():
        if key not in item:
            continue
        value = item[key]
        if isinstance(value, bool) or not isinstance(value, types) or (
                isinstance(value, float) and not math.isfinite(value)):
            kind = ("a whole number" if types == (int,) else "a number" if float in types
                    else "a list of phrases" if types == (list,) else "a string")
            raise fail(f"{key} must be {kind}, got {value!r}", key)
        if key in ("max_s", "max_count", "last_turns", "min_confidence", "within_first_s", "within_last_s") and value < 0:
            raise fail(f"{key} must not be negative, got {value!r}", key)
        if key == "phrases":
            if not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise fail("phrases must be a non-empty list of non-empty strings", key)
            if any(len(v) > MAX_TEXT_CHARS for v in value):
                raise fail(f"a phrase is longer than {MAX_TEXT_CHARS} characters", key)
            value = tuple(value)
        if isinstance(value, (int, float)) and abs(value) > MAX_ABS_THRESHOLD:
            raise fail(f"{key} = {value!r}; allowed: a number within -{MAX_ABS_THRESHOLD:g}..{MAX_ABS_THRESHOLD:g}", key)
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise fail(f"{key} is {len(value)} characters; allowed: at most {MAX_TEXT_CHARS}", key)
        params.append((key, value))
    p = dict(params)
    if rtype == "metric":
        if p["metric"] not in METRICS:
            close = [m for m in METRICS if p["metric"].split("_")[0] in m][:5]
            hint = f"; did you mean {', '.join(close)}?" if close else "; see docs/result-schema.md for metric names"
            raise fail(f"unknown metric {p['metric']!r}{hint}", p["metric"])
        if "min" not in p and "max" not in p:
            raise fail("a metric rule needs 'min', 'max' or both")
        if "min" in p and "max" in p and p["min"] > p["max"]:
            raise fail(f"min {p['min']} is above max {p['max']}", "min")
    if rtype == "agent_interruptions" and p.get("outcome", "any") not in ("any", "successful"):
        raise fail(f"outcome must be 'any' or 'successful', got {p['outcome']!r}", "outcome")
    if rtype in ("must_say", "must_not_say"):
        if p.get("party", "agent") not in PHRASE_PARTIES:
            raise fail(f"party must be one of {', '.join(PHRASE_PARTIES)}, got {p['party']!r}", "party")
        if p.get("match", "any") not in ("any", "all"):
            raise fail(f"match must be 'any' or 'all', got {p['match']!r}", "match")
        if not 0 <= p.get("tolerance", 0.2) < 1:
            raise fail(f"tolerance must be in [0, 1) (share of characters that may differ), got {p['tolerance']!r}",
                       "tolerance")
        if "within_first_s" in p and "within_last_s" in p:
            raise fail("use within_first_s or within_last_s, not both", "within_last_s")
    if rtype == "customer_ending_angry" and not set(p) & set(_ENDING_TRIGGERS):
        raise fail(f"needs at least one of {', '.join(repr(k) for k in _ENDING_TRIGGERS)}")
    message = item.get("message")
    if message is not None:
        if not isinstance(message, str):
            raise fail("message must be a string", "message")
        problem = _message_problem(message)
        if problem:
            raise fail(problem, "message")
    auto_fail = item.get("auto_fail", False)
    if not isinstance(auto_fail, bool):
        raise fail("auto_fail must be true or false", "auto_fail")
    return Rule(rid, rtype, severity, float(weight), message, auto_fail, tuple(params), by_model)


_EMOTION_RULES = ("customer_ending_angry", "agent_angry")


def _parse_by_model(item: dict, number: int, rtype: str, *, source: str, text: str, fail) -> tuple:
    """``by_model`` of an emotion rule: ((model name, validated params), ...); each entry is checked as the rule's
    own parameters would be (same keys, types, ranges, required triggers)."""
    table = item.get("by_model")
    if table is None or rtype not in _EMOTION_RULES:
        return ()
    if not isinstance(table, dict) or not table:
        raise fail("by_model must be a table from emotion model names to that rule type's parameters", "by_model")
    out = []
    for model, override in table.items():
        if not isinstance(model, str) or not model.strip() or len(model) > MAX_TEXT_CHARS:
            raise fail(f"by_model keys must be emotion model names of at most {MAX_TEXT_CHARS} characters", "by_model")
        if not isinstance(override, dict):
            raise fail(f"by_model.{model} must be a table of {rtype} parameters", model)
        extra = set(override) - set(_TYPE_KEYS[rtype])
        if extra:
            raise fail(f"by_model.{model}: unknown key {sorted(extra)[0]!r} for type {rtype!r}; allowed: "
                       f"{', '.join(sorted(_TYPE_KEYS[rtype]))}", sorted(extra)[0])
        sub = {"id": item["id"], "type": rtype, **override}
        try:
            out.append((model, _parse_rule(sub, number, source=source, text=text, seen=set()).params))
        except ConfigError as exc:
            reason = exc.reason.removeprefix(f"rule {item['id']!r}: ")
            raise fail(f"by_model.{model}: {reason}", model) from None
    return tuple(out)


def _message_problem(message: str) -> str | None:
    """Why a message template is unsafe or broken (None if fine): bounded length, known placeholders,
    format widths and precisions of at most :data:`MAX_FORMAT_WIDTH`, bounded formatted length."""
    import string

    if len(message) > MAX_MESSAGE_CHARS:
        return f"message is {len(message)} characters; allowed: at most {MAX_MESSAGE_CHARS}"
    try:
        for _, name, spec, _ in string.Formatter().parse(message):
            if name is None:
                continue
            if name not in ("value", "threshold", "count", "label", "trigger"):
                return (f"message has a bad placeholder {{{name}}}; use {{value}}, {{threshold}}, {{count}}, {{label}} "
                        "or {trigger}")
            if spec and ("{" in spec or any(int(n) > MAX_FORMAT_WIDTH for n in re.findall(r"\d+", spec))):
                return (f"message format {{{name}:{spec}}} is too wide; allowed: widths and precisions up to "
                        f"{MAX_FORMAT_WIDTH}, no nested fields")
        samples = [dict(value=v, threshold=v, count=1, label="x", trigger="x") for v in (1, 1.5, "x")]
        formatted = []
        for sample in samples:
            try:
                formatted.append(message.format(**sample))
            except (ValueError, TypeError):
                continue  # a numeric format applied to a string sample: real values are numbers
        if not formatted:
            message.format(**samples[0])
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        return f"message has a bad placeholder ({exc}); use {{value}}, {{threshold}} or {{count}}"
    if any(len(text) > 2 * MAX_MESSAGE_CHARS for text in formatted):
        return f"message formats to more than {2 * MAX_MESSAGE_CHARS} characters"
    return None


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rules file (``.toml``, or ``.yaml``/``.yml``)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > RULES_MAX_BYTES:
            raise ConfigError(f"rules file is {size} bytes; allowed: at most {RULES_MAX_BYTES}", path=str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("rules file not found; pass an existing .toml or .yaml file", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read rules file ({exc})", path=str(path)) from None
    return parse_rules(_parse(path, text), source=str(path), text=text)


def load_default_rules() -> RuleSet:
    """The shipped ``analyzer/default_rules.toml``."""
    return load_rules(DEFAULT_RULES_PATH)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class _Outcome:
    """Result of one check: skipped (reason), or passed/failed with value, threshold and times."""

    failed: bool = False
    skipped: str | None = None
    value: Any = None
    threshold: Any = None
    count: int = 0
    times: tuple[tuple[float, float], ...] = ()
    trigger: str = ""  # what made the rule fail, in words (the message's {trigger})


def _times(items: list[dict]) -> tuple[tuple[float, float], ...]:
    spans = sorted({(round(float(e["start_s"]), 3), round(float(e["end_s"]), 3)) for e in items})
    return tuple(spans)


def _check_metric(rule: Rule, call: dict) -> _Outcome:
    key = rule.param("metric")
    value = (call.get("metrics") or {}).get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _Outcome(skipped=f"not applicable: {key} is null in this call")
    low, high = rule.param("min"), rule.param("max")
    threshold = [low, high] if low is not None and high is not None else (high if high is not None else low)
    failed = (low is not None and value < low) or (high is not None and value > high)
    return _Outcome(failed=bool(failed), value=value, threshold=threshold, count=int(bool(failed)))


def _check_dead_air(rule: Rule, call: dict) -> _Outcome:
    limit = rule.param("max_s")
    silences = [e for e in call.get("events") or [] if e.get("kind") in ("dead_air", "hold")]
    longest = max((float(e["end_s"]) - float(e["start_s"]) for e in silences), default=0.0)
    over = [e for e in silences if float(e["end_s"]) - float(e["start_s"]) > limit]
    times = _times(over)
    return _Outcome(failed=bool(over), value=round(longest, 3), threshold=limit, count=len(times), times=times)


def _check_agent_interruptions(rule: Rule, call: dict) -> _Outcome:
    limit, outcome = rule.param("max_count"), rule.param("outcome", "any")
    hits = [e for e in call.get("events") or [] if e.get("kind") == "interruption" and e.get("speaker") == "agent"
            and (outcome == "any" or e.get("outcome") == "successful")]
    return _Outcome(failed=len(hits) > limit, value=len(hits), threshold=limit, count=len(hits), times=_times(hits))


def _check_agent_latency(rule: Rule, call: dict) -> _Outcome:
    limit, max_count = rule.param("max_s"), rule.param("max_count", 0)
    answers = [e for e in call.get("events") or [] if e.get("kind") == "gap" and e.get("speaker") == "agent"
               and e.get("fto_s") is not None]
    if not answers:
        return _Outcome(skipped="the agent never takes the floor after a gap")
    slow = [e for e in answers if float(e["fto_s"]) > limit]
    slowest = max(float(e["fto_s"]) for e in answers)
    return _Outcome(failed=len(slow) > max_count, value=round(slowest, 3), threshold=limit, count=len(slow),
                    times=_times(slow))


def _scored(turn: dict) -> bool:
    return turn.get("emotion_label") is not None


def _p_angry(turn: dict) -> float:
    """The turn's (calibrated) angry probability; older results without it fall back to the label's confidence."""
    p = turn.get("p_angry")
    return float(p if p is not None else turn.get("emotion_confidence") or 0.0)


def _angry(turns: list[dict], min_confidence: float) -> list[dict]:
    return [t for t in turns if t.get("emotion_label") == "angry" and _p_angry(t) >= min_confidence]


def _angry_words(angry: list[dict], of: str, min_confidence: float) -> str:
    probs = ", ".join(f"{_p_angry(t):.2f}" for t in angry)
    floor = f" >= {min_confidence:g}" if min_confidence else ""
    return f"{len(angry)} of {of} angry (p_angry {probs}{floor})"


def _check_customer_ending_angry(rule: Rule, call: dict) -> _Outcome:
    below, n_last = rule.param("valence_below"), rule.param("last_turns", 2)
    rise_above, end_above = rule.param("anger_rise_above"), rule.param("end_anger_above")
    min_conf = rule.param("min_confidence", 0.0)
    end_valence = (call.get("metrics") or {}).get("customer_valence_end")
    scored = [t for t in call.get("turns") or [] if t.get("speaker") == "customer" and _scored(t)]
    last = scored[-n_last:] if n_last and (rule.param("last_turns") is not None or below is not None) else []
    trajectory = {k: v for k, v in ((call.get("params") or {}).get("emotion") or {}).items()
                  if k in ("trajectory_share", "min_trajectory_speech_s", "min_trajectory_turns")}
    anger = customer_end_anger(scored, **trajectory) if rise_above is not None or end_above is not None else None
    if (below is None or end_valence is None) and not last and anger is None:
        return _Outcome(skipped="no customer emotion in this call (emotion model off, no scored turns, or too little "
                                "customer speech for its last third)")
    angry_last = _angry(last, min_conf)
    fired = []  # (value, threshold, count, evidence turns, trigger in words), in the order the message lists them
    if last and len(angry_last) * 2 >= len(last):
        fired.append((len(angry_last), f"half of the last {len(last)} turns", len(angry_last), angry_last,
                      _angry_words(angry_last, f"the last {len(last)} scored turns", min_conf)))
    if anger is not None and rise_above is not None and anger["rise"] > rise_above:
        fired.append((round(anger["rise"], 4), rise_above, len(anger["turns"]), anger["turns"],
                      f"mean p_angry {anger['end']:.2f} over the last third of the customer's speech, "
                      f"{anger['rise']:.2f} above the earlier turns' {anger['before']:.2f} (rise > {rise_above:g})"))
    if anger is not None and end_above is not None and anger["end"] > end_above:
        fired.append((round(anger["end"], 4), end_above, len(anger["turns"]), anger["turns"],
                      f"mean p_angry {anger['end']:.2f} over the last third of the customer's speech above {end_above:g}"))
    if below is not None and end_valence is not None and end_valence < below:
        fired.append((end_valence, below, len(angry_last), last, f"end valence {end_valence:.2f} below {below:g}"))
    if not fired:
        return _Outcome(failed=False, value=len(angry_last), threshold=f"half of the last {len(last)} turns",
                        count=len(angry_last))
    value, threshold, count, evidence, _ = fired[0]
    return _Outcome(failed=True, value=value, threshold=threshold, count=count, times=_times(evidence),
                    trigger="; ".join(f[4] for f in fired))


def _check_agent_angry(rule: Rule, call: dict) -> _Outcome:
    min_conf, max_count = rule.param("min_confidence", 0.0), rule.param("max_count", 0)
    agent_scored = [t for t in call.get("turns") or [] if t.get("speaker") == "agent" and _scored(t)]
    if not agent_scored:
        return _Outcome(skipped="no agent emotion in this call (emotion model off or no scored turns)")
    angry = _angry(agent_scored, min_conf)
    return _Outcome(failed=len(angry) > max_count, value=len(angry), threshold=max_count, count=len(angry),
                    times=_times(angry), trigger=_angry_words(angry, f"{len(agent_scored)} scored turns", min_conf))


def _phrase_scope(rule: Rule, call: dict) -> tuple[list[dict], tuple[float, float]] | None:
    """The words a phrase rule looks at (party, time window) and the window itself (s); None without a transcript."""
    turns = call.get("turns") or []
    if not any("words" in t for t in turns):
        return None
    party = rule.param("party", "agent")
    end_s = float(call.get("duration_s") or max((t["end_s"] for t in turns), default=0.0))
    first, last = rule.param("within_first_s"), rule.param("within_last_s")
    window = (0.0, min(end_s, first)) if first is not None else (max(0.0, end_s - last), end_s) if last is not None \
        else (0.0, end_s)
    words = [w for t in turns if party == "any" or t.get("speaker") == party for w in t.get("words") or []
             if window[0] <= (w["start_s"] + w["end_s"]) / 2 <= window[1]]
    return sorted(words, key=lambda w: w["start_s"]), window


def _check_phrases(rule: Rule, call: dict) -> _Outcome:
    from .metrics.words import find_phrase

    scope = _phrase_scope(rule, call)
    if scope is None:
        return _Outcome(skipped="no transcript in this call (run analyze --transcribe)")
    words, window = scope
    tolerance = rule.param("tolerance", 0.2)
    found = {phrase: find_phrase(words, phrase, tolerance=tolerance) for phrase in rule.param("phrases")}
    if rule.type == "must_not_say":
        said = [p for p, hits in found.items() if hits]
        times = tuple(sorted(t for hits in found.values() for t in hits))
        return _Outcome(failed=bool(said), value="; ".join(said) or None, threshold=list(rule.param("phrases")),
                        count=len(times), times=tuple((round(a, 3), round(b, 3)) for a, b in times))
    missing = [p for p, hits in found.items() if not hits]
    failed = len(missing) == len(found) if rule.param("match", "any") == "any" else bool(missing)
    return _Outcome(failed=failed, value="; ".join(missing) if failed else None,
                    threshold=list(rule.param("phrases")), count=len(missing) if failed else 0,
                    times=((round(window[0], 3), round(window[1], 3)),) if failed else ())


_CHECKS: dict[str, Callable[[Rule, dict], _Outcome]] = {
    "must_say": _check_phrases,
    "must_not_say": _check_phrases,
    "metric": _check_metric,
    "dead_air": _check_dead_air,
    "agent_interruptions": _check_agent_interruptions,
    "agent_latency": _check_agent_latency,
    "customer_ending_angry": _check_customer_ending_angry,
    "agent_angry": _check_agent_angry,
}


# the metrics each rule type's check depends on (``metric`` rules: their own metric)
_RULE_INPUTS: dict[str, tuple[str, ...]] = {
    "agent_interruptions": ("interruptions_by_agent",),
    "agent_latency": ("agent_latency_median_s",),
    "customer_ending_angry": ("customer_valence_end",),
    "agent_angry": ("agent_angry_share",),
}


def not_applicable(rule: Rule, call: dict) -> str | None:
    """Why ``rule`` cannot be checked on ``call``: one of its input metrics carries a reliability note
    (``call["unreliable_metrics"]``: mono overlap, more than two voices, ...), or None."""
    notes = call.get("unreliable_metrics") or {}
    inputs = (rule.param("metric"),) if rule.type == "metric" else _RULE_INPUTS.get(rule.type, ())
    for key in inputs:
        if key in notes and not notes[key].startswith("partly measured"):  # partly measured: still checkable
            return f"not applicable: {key} is {notes[key]}" if notes[key].startswith(("not measured", "lower bound")) \
                else f"not applicable: {key} is unreliable ({notes[key]})"
    return None


def _message(rule: Rule, outcome: _Outcome) -> str:
    template = rule.message or _DEFAULT_MESSAGES[rule.type]
    threshold = outcome.threshold
    if rule.type in ("must_say", "must_not_say"):
        threshold = "; ".join(f'"{p}"' for p in threshold)
    elif isinstance(threshold, list):
        threshold = f"{threshold[0]}-{threshold[1]}"
    label = METRICS[rule.param("metric")].label if rule.type == "metric" else rule.type
    value = round(outcome.value, 3) if isinstance(outcome.value, float) else outcome.value
    return template.format(value=value, threshold=threshold, count=outcome.count, label=label,
                           trigger=outcome.trigger or f"{value} (limit {threshold})")


def evaluate(rules: RuleSet, call: dict) -> dict:
    """Score one call result dict against ``rules``.

    Returns ``{"score": 0-100, "rules_version", "failed": [{"rule", "severity", "weight",
    "message", "value", "threshold", "times": [[start_s, end_s], ...]}], "passed": [rule ids],
    "skipped": [{"rule", "reason"}], "checked": n, "rules": n, "auto_failed": bool}``; the score is the
    weighted share of passed rules among the checked ones, 100 when nothing could be checked. A rule is
    *not applicable* (listed in ``skipped`` with the reason, never passed) when its metric is null or
    carries a reliability note (:func:`not_applicable`); ``checked`` says how many rules were checked.
    """
    failed, passed, skipped = [], [], []
    total_w = failed_w = 0.0
    auto_failed = False
    model = (call.get("versions") or {}).get("emotion_model")
    for rule in rules.rules:
        rule = rule.for_model(model)
        reason = not_applicable(rule, call)
        outcome = _Outcome(skipped=reason) if reason else _CHECKS[rule.type](rule, call)
        if outcome.skipped:
            skipped.append({"rule": rule.id, "reason": outcome.skipped})
            continue
        total_w += rule.weight
        if not outcome.failed:
            passed.append(rule.id)
            continue
        failed_w += rule.weight
        auto_failed = auto_failed or rule.auto_fail
        failed.append({
            "rule": rule.id, "severity": rule.severity, "weight": rule.weight, "message": _message(rule, outcome),
            "value": outcome.value, "threshold": outcome.threshold, "times": [list(t) for t in outcome.times],
        })
    score = 100.0 if total_w == 0 else 100.0 * (1.0 - failed_w / total_w)
    if auto_failed:
        score = 0.0
    return {"score": round(score, 1), "rules_version": rules.version, "failed": failed, "passed": passed,
            "skipped": skipped, "checked": len(passed) + len(failed), "rules": len(rules.rules), "auto_failed": auto_failed}


def rescore_results(results_dir: str | Path, rules) -> "pd.DataFrame":
    """Evaluate ``rules`` (a :class:`analyzer.qa.RuleSet`) on every result in ``results_dir`` and
    rewrite what depends on the score: each JSON's ``qa``, then, in a results folder written by
    ``analyze``, the tables, errors.csv, database and pages (:func:`analyzer.outputs.rebuild.rebuild_outputs`,
    the same rebuild as at the end of a run).
    Returns one row per call: call_id, qa_score, failed and skipped rule ids (';'-joined)."""
    import contextlib

    import pandas as pd

    from .outputs import writers
    from .outputs.reader import iter_result_files, read_result

    root = Path(results_dir)
    files = iter_result_files(root)  # raises for a folder that is not a results folder, before any lock is taken
    managed = (root / writers.CALLS_DIR).is_dir()
    lock = writers.OutputLock(root) if managed else contextlib.nullcontext()
    rows = []
    with lock:  # an analyze run writing into this folder finishes first
        for path in files:
            result = read_result(path)
            qa = evaluate(rules, result)
            result["qa"] = qa
            writers.atomic_write_text(path, writers.result_json_text(result))
            rows.append({"call_id": result["call_id"], "qa_score": qa["score"],
                         "failed": ";".join(f["rule"] for f in qa["failed"]),
                         "skipped": ";".join(s["rule"] for s in qa["skipped"])})
        if managed:
            # the same rebuild as at the end of an analyze run: tables (with status), errors.csv, database, pages
            from .outputs.rebuild import rebuild_outputs

            rebuild_outputs(root, html=(root / "index.html").exists() or (root / writers.HTML_DIR).is_dir())
    return pd.DataFrame(rows, columns=["call_id", "qa_score", "failed", "skipped"])
