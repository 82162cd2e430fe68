"""Numbers and tables as a reader sees them: every number with its unit, no Python reprs in a cell.

Table keys carry their unit as a suffix (``offset_mm``, ``slope_fA``); the header shows it as
``offset (mm)`` and the cells hold plain numbers. Nested values (a dict of tilts, a 3-vector) become short
text; long series (raw traces) are left to results.json and named as left out.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

#: Key suffix → unit shown in the header, tried in order: ``_per_nC`` before ``_nC`` (an inverse charge).
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_percent", "%"),
    ("_per_nC", "1/nC"),
    ("_pct", "%"),
    ("_deg", "deg"),
    ("_mm", "mm"),
    ("_um", "µm"),
    ("_fA", "fA"),
    ("_pC", "pC"),
    ("_nC", "nC"),
    ("_Gy", "Gy"),
    ("_kg", "kg"),
    ("_v", "V"),
    ("_s", "s"),
)
MAX_ROWS = 30
MAX_LIST = 4
WIDE_COLUMNS = 8


def split_unit(key: str) -> tuple[str, str]:
    """``"max_deviation_mm"`` → ``("max deviation", "mm")``; keys without a known suffix have no unit."""
    for suffix, unit in UNIT_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)].replace("_", " "), unit
    return key.replace("_", " "), ""


def number(value: float, digits: int = 4) -> str:
    """A float to ``digits`` significant figures, without exponent noise for everyday magnitudes."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if -4 <= magnitude < 6:
        decimals = max(0, digits - 1 - magnitude)
        return f"{value:.{decimals}f}"
    return f"{value:.{digits - 1}e}"


def with_uncertainty(value: float, expanded: float) -> tuple[str, str]:
    """Value and U rounded together: U to two significant figures, the value to the same decimal place."""
    if expanded <= 0 or not math.isfinite(expanded):
        return number(value), number(expanded)
    decimals = min(10, max(0, 1 - math.floor(math.log10(expanded))))
    return f"{value:.{decimals}f}", f"{expanded:.{decimals}f}"


def cell(value: Any, unit: str = "") -> str:
    """One table cell as text; the unit is added to nested values (plain columns carry it in the header)."""
    suffix = f" {unit}" if unit else ""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {cell(v)}" for k, v in value.items()) + suffix
    if isinstance(value, list | tuple):
        return "(" + ", ".join(cell(v) for v in value) + ")" + suffix
    return str(value)


class TableView(BaseModel):
    """A results table ready for the template: headers with units, text cells, what was left out."""

    name: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    left_out_columns: list[str]
    total_rows: int
    wide: bool


def _too_long(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return len(value) > MAX_LIST or any(isinstance(v, list | tuple | dict) for v in value)
    if isinstance(value, dict):
        return len(value) > MAX_LIST
    return False


def table_view(name: str, rows: list[dict[str, Any]]) -> TableView | None:
    """The table as shown, or None when it is raw data (more than ``MAX_ROWS`` rows) left to results.json."""
    if not rows or len(rows) > MAX_ROWS:
        return None
    keys = list(rows[0].keys())
    shown = [k for k in keys if not any(_too_long(row.get(k)) for row in rows)]
    headers, units = [], []
    for key in shown:
        label, unit = split_unit(key)
        headers.append(f"{label} ({unit})" if unit else label)
        units.append(unit)
    numeric = [all(isinstance(row.get(k), int | float) for row in rows) for k in shown]
    body = [
        [
            cell(row.get(k), "" if isinstance(row.get(k), int | float) else unit)
            for k, unit in zip(shown, units, strict=True)
        ]
        for row in rows
    ]
    return TableView(
        name=name.replace("_", " "),
        headers=headers,
        rows=body,
        numeric=numeric,
        left_out_columns=[split_unit(k)[0] for k in keys if k not in shown],
        total_rows=len(rows),
        wide=len(shown) > WIDE_COLUMNS,
    )
