"""Reading outcome files for `mlc experiment report`: CSV (header row) or JSON lines.

Numeric columns become floats only when every value is a number (empty cells are missing);
``unit_id``, ``region`` and ``ts`` are always kept as text. Problems raise
:class:`AnalysisError` with ``path:line``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from typing import Any
from mlc.core.errors import MlcError

KEY_COLUMNS = ("unit_id", "region", "ts")       # never metrics; kept as text by the CSV reader
JSON_LINES_EXTENSIONS = (".jsonl", ".json", ".ndjson")

class AnalysisError(MlcError):
    """A problem with the inputs of an analysis that the user can fix."""
    code = "E7010"


# ============================================================================ reading outcomes


def read_outcomes(path: str) -> list[dict[str, Any]]:
    """Outcome rows of a CSV file (a header row; columns whose values all parse as numbers become
    floats, empty cells None) or a JSON-lines file (one object a line; blank lines skipped).
    The format follows the extension (``.csv``; ``.jsonl``/``.json``/``.ndjson``), else the first
    character. Unreadable input raises AnalysisError with ``path:line``."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise AnalysisError(f"{path}: cannot read outcomes: {err}") from None
    if _is_json_lines(path, text):
        return _parse_json_lines(path, text)
    return _parse_csv(path, text)


def _is_json_lines(path: str, text: str) -> bool:
    extension = os.path.splitext(path)[1].lower()
    if extension == ".csv":
        return False
    if extension in JSON_LINES_EXTENSIONS:
        return True
    return text.lstrip().startswith("{")


def _parse_json_lines(path: str, text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise AnalysisError(f"{path}:{number}: not valid JSON: {err}") from None
        if not isinstance(row, dict):
            raise AnalysisError(f"{path}:{number}: expected a JSON object, found {type(row).__name__}")
        rows.append(row)
    return rows


def _parse_csv(path: str, text: str) -> list[dict[str, Any]]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader, None)
        if header is None:
            return []
        _check_header(path, header)
        cells: list[tuple[int, list[str]]] = []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                raise AnalysisError(f"{path}:{reader.line_num}: {len(record)} fields, the header has {len(header)}")
            cells.append((reader.line_num, record))
    except csv.Error as err:
        raise AnalysisError(f"{path}:{reader.line_num}: {err}") from None
    numeric = [name not in KEY_COLUMNS and all(_csv_number(r[i]) is not None or not r[i].strip()
                                               for _, r in cells) for i, name in enumerate(header)]
    return [{name: _csv_cell(record[i], numeric[i]) for i, name in enumerate(header)} for _, record in cells]


def _check_header(path: str, header: list[str]) -> None:
    names = [name.strip() for name in header]
    if any(not name for name in names):
        raise AnalysisError(f"{path}:1: the header has an empty column name")
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise AnalysisError(f"{path}:1: repeated column(s) {', '.join(repeated)}")
    header[:] = names


def _csv_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _csv_cell(text: str, numeric: bool) -> Any:
    if not text.strip():
        return None
    return _csv_number(text) if numeric else text


# ============================================================================ the report
