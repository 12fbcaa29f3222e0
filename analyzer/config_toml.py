"""A configuration as commented TOML: what ``call-analyzer config --defaults`` / ``--show`` print.

The comment of each key is taken from its section's docstring in :mod:`analyzer.config` (and
:class:`analyzer.diarize.DiarizationConfig`): entries ``name: meaning`` or ``a / b: meaning``,
so the meaning is written once, next to the default. Units come from the name's suffix
(``_s`` seconds, ``_ms`` milliseconds, ``_db`` dB, ``_hz`` Hz) and the allowed range from
:data:`analyzer.config.LIMITS`. The output is valid TOML: ``load_config`` reads it back to the
same configuration.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from typing import Any

from .config import _SECTIONS, AnalysisConfig, allowed_range

UNITS = (("_ms", "milliseconds"), ("_s", "seconds"), ("_db", "dB"), ("_hz", "Hz"))
_ENTRY = re.compile(r"^ {4}([a-z_][a-z0-9_]*(?:\s*/\s*[a-z_][a-z0-9_]*)*):\s*(.*)$")


def field_docs(cls) -> dict[str, str]:
    """``{field: meaning}`` parsed from a config dataclass's docstring (entries ``name: text``,
    ``a / b: text`` for several fields, continuation lines indented deeper)."""
    docs: dict[str, str] = {}
    current: list[str] = []
    for line in (cls.__doc__ or "").splitlines():
        match = _ENTRY.match(line)
        if match:
            current = [name.strip() for name in match.group(1).split("/")]
            for name in current:
                docs[name] = match.group(2).strip()
        elif current and line.startswith("        ") and line.strip():
            for name in current:
                docs[name] += " " + line.strip()
        else:
            current = []
    return docs


def unit_of(key: str) -> str | None:
    """The unit a key's name promises (``dead_air_s`` -> seconds), or None."""
    for suffix, unit in UNITS:
        if key.endswith(suffix):
            return unit
    return None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string is a JSON string


def _comment(section: str, key: str, kind: Any, meaning: str | None) -> str:
    parts = [meaning.rstrip(".") if meaning else key.replace("_", " ")]
    unit = unit_of(key)
    if unit and unit not in parts[0]:
        parts.append(f"unit: {unit}")
    parts.append(f"allowed: {allowed_range(section, key, kind)}")
    return "; ".join(parts)


def config_toml(config: AnalysisConfig, *, title: str) -> str:
    """Every section and key of ``config`` as TOML, each key with a comment line above it
    (meaning, unit, allowed range) and the default beside it when the value differs."""
    defaults = AnalysisConfig().to_dict()
    values = config.to_dict()
    lines = [f"# {line}" if line else "#" for line in title.splitlines()]
    for section, cls in _SECTIONS.items():
        hints = typing.get_type_hints(cls)
        docs = field_docs(cls)
        summary = (cls.__doc__ or "").strip().splitlines()[0].rstrip(".")
        lines += ["", f"# {summary}", f"[{section}]"]
        for f in dataclasses.fields(cls):
            value = values[section][f.name]
            lines.append(f"# {_comment(section, f.name, hints[f.name], docs.get(f.name))}")
            default = defaults[section][f.name]
            note = "" if value == default else f"  # default: {_toml_value(default)}"
            lines.append(f"{f.name} = {_toml_value(value)}{note}")
    return "\n".join(lines) + "\n"


def undocumented_fields() -> list[str]:
    """``section.key`` of every config field without a meaning in its docstring (kept empty by a test)."""
    return [f"{section}.{f.name}" for section, cls in _SECTIONS.items()
            for f in dataclasses.fields(cls) if f.name not in field_docs(cls)]
