"""Volumes for the view tests: real series read with SimpleITK, and synthetic phantoms of known geometry.

The DICOM loader of the workstation is another module's job; these tests read
the real series with SimpleITK's ImageSeriesReader (exact geometry) and keep
the few header facts the views show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from workstation.volume import Volume, VolumeMeta

_TAGS = {"modality": "0008|0060", "patient_position": "0018|5100", "description": "0008|103e",
         "series_uid": "0020|000e", "patient_name": "0010|0010", "patient_id": "0010|0020", "study_date": "0008|0020"}


def read_series(folder: Path) -> Volume:
    """The one series in ``folder`` (searched recursively), as a Volume with its header facts."""
    candidates = [d for d in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]
                  if any(f.is_file() and f.suffix != ".txt" for f in d.iterdir())]
    found = next((d for d in candidates if sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(d))), None)
    if found is None:
        raise FileNotFoundError(f"no DICOM series under {folder}")
    folder = found
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    reader.MetaDataDictionaryArrayUpdateOn()
    image = reader.Execute()
    facts = {key: reader.GetMetaData(0, tag).strip() if reader.HasMetaDataKey(0, tag) else ""
             for key, tag in _TAGS.items()}
    meta = VolumeMeta(**facts, units="HU" if facts["modality"] == "CT" else "")
    return Volume.from_sitk(image, meta)


def box_phantom(shape_kji=(40, 64, 80), spacing=(0.8, 0.9, 1.5), direction=None, origin=(-30.0, -20.0, 10.0),
                modality: str = "CT") -> Volume:
    """Background -1000, a box of 200 over voxels i 10..49, j 12..43, k 8..29, and one 1000 marker at (33, 30, 20)."""
    array = np.full(shape_kji, -1000, dtype=np.int16)
    array[8:30, 12:44, 10:50] = 200
    array[20, 30, 33] = 1000  # k, j, i
    meta = VolumeMeta(modality=modality, units="HU" if modality == "CT" else "", series_uid="1.2.3.4",
                      patient_name="Doe^Jane", patient_id="PID-0001", description="box phantom")
    return Volume.from_parts(array, spacing, origin, np.eye(3) if direction is None else direction, meta)
