"""No patient name, ID or birth date in the log folder or on stderr, whatever the commands meet.

The planted study (real CIRS slices carrying distinctive identities) plus
broken copies of it (truncated header, cut pixels, damaged geometry) go
through scan, library import, load, info, convert, anonymise and export,
with the ``workstation`` loggers at DEBUG, in this process and as CLI
commands; then every log file and every stderr is searched.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from planted_study import PLANTED, make_study

from workstation import logs, paths
from workstation.dicom.export import export_dicom_series
from workstation.dicom.library import Library
from workstation.dicom.load import load_volumes
from workstation.dicom.scan import scan_folder
from workstation.errors import WorkstationError
from workstation.jobs import no_progress

IDENTIFIERS = [PLANTED[k] for k in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs",
                                    "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
                                    "PatientAddress", "PatientTelephoneNumbers", "MedicalRecordLocator")]
IDENTIFIERS += ["PLANTEDSURNAME", "SECRETGIVEN"]  # the parts of the name, in case a display splits it
DEBUG_CLI = "import logging, sys; from workstation import logs; logs.setup_logging(logging.DEBUG); " \
            "from workstation.cli.main import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def study_with_failures(tmp_path: Path, cirs_ct: Path, cirs_mr: Path) -> Path:
    files = make_study(cirs_ct, cirs_mr, tmp_path / "src", n_ct=4, n_mr=2)
    broken = tmp_path / "src" / "broken"
    broken.mkdir()
    (broken / "truncated.dcm").write_bytes(files[0].read_bytes()[:900])
    (broken / "cut-pixels.dcm").write_bytes(files[1].read_bytes()[:-5000])
    ds = pydicom.dcmread(files[2])
    ds.ImageOrientationPatient = [0, 0, 0, 0, 0, 0]
    ds.PixelSpacing = [0, -1]
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    ds.save_as(broken / "bad-geometry.dcm")
    ds.PatientAge = "SECRET-AGE"  # invalid AS: pydicom's warning would quote it
    ds.BitsAllocated = 13
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".8"
    ds.save_as(broken / "bad-bits.dcm")
    return tmp_path / "src"


def _leaks(text: str) -> list[str]:
    return [ident for ident in IDENTIFIERS if ident.lower() in text.lower()]


def test_logs_and_stderr_carry_no_identity(study_with_failures: Path, tmp_path: Path,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging(logging.DEBUG)
    logging.getLogger("workstation").setLevel(logging.DEBUG)
    src = study_with_failures

    scan = scan_folder(no_progress, None, src)
    with Library(tmp_path / "library.sqlite") as library:
        library.import_folder(no_progress, None, src)
    result = load_volumes(no_progress, None, src)
    assert result.volumes and len(result.skipped) >= 3  # the failure paths were taken
    with pytest.raises(WorkstationError):
        load_volumes(no_progress, None, src / "broken")
    volume = result.volumes[0]
    export_dicom_series(no_progress, None, volume, tmp_path / "exported", scan.headers[0], "exported", "1.2.3.4")
    in_process = capfd.readouterr()

    commands = [["info", str(src)], ["info", "--json", str(src / "broken")],
                ["convert", str(src), "-o", str(tmp_path / "volume.nii.gz")],
                ["convert", str(src / "broken"), "-o", str(tmp_path / "broken.nii.gz")],
                ["anonymise", str(src), "-o", str(tmp_path / "anon")]]
    stderr = in_process.err
    codes = []
    for command in commands:
        done = subprocess.run([sys.executable, "-c", DEBUG_CLI, *command], capture_output=True, text=True,
                              timeout=300)
        codes.append(done.returncode)
        stderr += done.stderr
    assert codes == [0, 2, 0, 2, 0], stderr[-3000:]

    log_text = "".join(p.read_text(errors="replace") for p in paths.log_dir().rglob("*") if p.is_file())
    assert "DEBUG" in log_text or "INFO" in log_text  # the log was written at all
    assert "left out" in stderr or "skipped" in stderr  # failures were reported
    assert _leaks(log_text) == []
    assert _leaks(stderr) == []
    assert "SECRET-AGE" not in stderr + log_text
