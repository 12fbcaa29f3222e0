"""A table's CSV text and Parquet bytes from rows of plain values, without pandas (issue 16).

The tables were written through ``pandas.DataFrame(rows).to_csv`` / ``.to_parquet``; importing
pandas at the end of every run cost ~0.3 s of CPU and ~80 MB. This module writes the same CSV text
(checked byte for byte against pandas in ``tests/test_table_files.py``) and a Parquet file that
pandas reads back as the same frame, with the csv module and pyarrow directly.

pandas' rules, as far as our rows need them (one column = the values of one key over the rows, a
key missing from a row counts as missing):

============================  ==========  =============================================
Python values in the column   pandas       CSV cell
============================  ==========  =============================================
int only                      int64        ``str(v)``
int/float, missing allowed    float64      numpy's ``astype(str)`` (``3`` -> ``3.0``); missing -> empty
bool only                     bool         ``True`` / ``False``
str, missing allowed          str          the text; missing -> empty
anything else (bool + None)   object       ``str(v)``; missing -> empty
============================  ==========  =============================================

A column of any other mix (e.g. lists) is left to pandas (:func:`needs_pandas`). Probability-like
columns are rounded to :data:`CSV_PROBABILITY_DECIMALS` in the CSV only, string cells are
neutralised against spreadsheet formulas, as before.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

CSV_PROBABILITY_DECIMALS = 4  # p_*, arousal, valence, emotion_confidence in CSV (the model is not better than 1e-4)
PROBABILITY_COLUMNS = ("arousal", "valence", "emotion_confidence")
_MISSING = object()
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def columns_of(rows: list[dict]) -> list[str]:
    """Column names in first-seen order over the rows (as ``pandas.DataFrame(rows)``)."""
    return list(dict.fromkeys(key for row in rows for key in row))


def column_kind(values: list) -> str | None:
    """'int', 'float', 'bool', 'str' or 'object' as pandas infers the column; None: leave it to pandas."""
    kinds = set()
    for v in values:
        if v is _MISSING or v is None:
            kinds.add("missing")
        elif v is True or v is False:
            kinds.add("bool")
        elif type(v) is int:
            kinds.add("int")
        elif type(v) is float:
            kinds.add("nan" if math.isnan(v) else "float")
        elif type(v) is str:
            kinds.add("str")
        else:
            return None
    numbers = kinds - {"missing", "nan"}
    if not numbers:
        return "null" if kinds == {"missing"} else None  # all None: an object column of None
    if numbers == {"int"} and kinds == {"int"}:
        return "int" if all(INT64_MIN <= v <= INT64_MAX for v in values) else None
    if numbers <= {"int", "float"}:
        return "float"
    if kinds == {"bool"}:
        return "bool"
    if numbers == {"str"} and "nan" not in kinds:
        return "str"
    if numbers == {"bool"} and "nan" not in kinds:
        return "object"
    return None


def needs_pandas(rows: list[dict]) -> bool:
    """True when some column holds a mix of values whose pandas type is not covered here (or rows without columns)."""
    if not rows:
        return False
    return not columns_of(rows) or any(column_kind([row.get(c, _MISSING) for row in rows]) is None for c in columns_of(rows))


def _is_probability(name: str) -> bool:
    return name.startswith("p_") or name in PROBABILITY_COLUMNS


def _csv_cells(name: str, values: list, kind: str, neutralise) -> list[str]:
    if kind == "int":
        return [str(v) for v in values]
    if kind == "float":
        array = np.array([np.nan if v is _MISSING or v is None else float(v) for v in values], dtype=np.float64)
        if _is_probability(name):
            array = array.round(CSV_PROBABILITY_DECIMALS)
        cells = array.astype(str).tolist()
        return ["" if v != v else cell for v, cell in zip(array.tolist(), cells)]
    if kind == "bool":
        return [str(v) for v in values]
    return ["" if v is _MISSING or v is None else str(neutralise(v)) for v in values]  # str, object, null


def csv_text(rows: list[dict], neutralise) -> str:
    """The CSV text ``neutralise_csv_frame(round_for_csv(pandas.DataFrame(rows))).to_csv(index=False)`` gives."""
    if not rows:
        return "\n"  # pandas' text for an empty frame
    names = columns_of(rows)
    columns = []
    for name in names:
        values = [row.get(name, _MISSING) for row in rows]
        columns.append(_csv_cells(name, values, column_kind(values), neutralise))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([neutralise(str(name)) for name in names])
    writer.writerows(zip(*columns))
    return buffer.getvalue()


_ARROW_TYPES = {"int": "int64", "float": "float64", "bool": "bool_", "object": "bool_", "str": "large_string", "null": "null"}


def parquet_bytes(rows: list[dict]) -> bytes:
    """Parquet of the rows with the column types pandas gives them (int64, float64 with nulls for
    missing, bool, string, object bool with nulls, null).

    The rows go to Arrow as JSON lines read with an explicit schema: ``pyarrow.array`` on Python
    values imports pandas (pyarrow 26 checks every input for pandas types), its JSON reader does not.
    Floats are written with ``repr`` and parsed back exactly.
    """
    import json

    import pyarrow as pa
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    names = columns_of(rows)
    kinds = {name: column_kind([row.get(name, _MISSING) for row in rows]) for name in names}
    schema = pa.schema([(name, getattr(pa, _ARROW_TYPES[kinds[name]])()) for name in names])
    out = io.BytesIO()
    if not rows:
        pq.write_table(schema.empty_table(), out)
        return out.getvalue()
    floats = [name for name in names if kinds[name] == "float"]
    lines = []
    for row in rows:
        if floats:
            row = {**row, **{k: None for k in floats if isinstance(row.get(k), float) and row[k] != row[k]}}
        lines.append(json.dumps(row, ensure_ascii=False, allow_nan=False))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    longest = max(len(line.encode("utf-8")) for line in lines)  # a row must fit in one block of the reader
    table = pa_json.read_json(io.BytesIO(data), read_options=pa_json.ReadOptions(use_threads=False, block_size=max(1 << 20, 2 * longest + 2)),
                              parse_options=pa_json.ParseOptions(explicit_schema=schema))
    pq.write_table(table.select(names), out)
    return out.getvalue()
