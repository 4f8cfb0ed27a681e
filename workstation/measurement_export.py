"""Measurements as exportable records, and as CSV for spreadsheets and statistics scripts.

Why: the viewer's model stores only geometry (``Measurement.to_dict()``);
an export needs the numbers too. A *record* is that dict plus ``values``
(name -> (value, unit)), computed once against the volume and shared by the
CSV and the DICOM SR writer. CSV columns are fixed, whatever was measured,
so files from several series concatenate; series are named by UID, never by
patient identity.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from workstation.atomic import atomic_output
from workstation.measurements import Measurement, values
from workstation.volume import Volume

VALUE_COLUMNS = {
    "length": "length_mm",
    "angle": "angle_deg",
    "area": "area_mm2",
    "mean": "mean",
    "sd": "sd",
    "min": "min",
    "max": "max",
}
COLUMNS = ["series_uid", "uid", "label", "kind", *VALUE_COLUMNS.values(), "intensity_unit", "points_lps_mm"]


def record(m: Measurement, volume: Volume | None) -> dict[str, Any]:
    """``m.to_dict()`` with its values and units (ROI statistics need the volume)."""
    return {**m.to_dict(), "values": {name: [v, unit] for name, (v, unit) in values(m, volume).items()}}


def csv_row(rec: Mapping[str, Any]) -> dict[str, str]:
    """One CSV row of a record; values this kind does not measure stay empty."""
    vals = rec.get("values", {})
    row = {"series_uid": str(rec.get("series_uid", "")), "uid": str(rec.get("uid", "")),
           "label": str(rec.get("label", "")), "kind": str(rec["kind"])}
    for name, column in VALUE_COLUMNS.items():
        row[column] = repr(float(vals[name][0])) if name in vals else ""
    row["intensity_unit"] = str(vals["mean"][1]) if "mean" in vals else ""
    row["points_lps_mm"] = ";".join(" ".join(f"{float(c):.3f}" for c in p) for p in rec.get("points", []))
    return row


def write_csv(records: Iterable[Mapping[str, Any]], output: str | PathLike[str]) -> Path:
    """Write the records to ``output`` through a temporary file, so a failure leaves no half file."""
    with atomic_output(output, "CSV") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(csv_row(rec) for rec in records)
    return Path(output)
