"""``workstation scan FOLDER``: the command-line contract, run as users and scripts run it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workstation.cli.main import main

CT_SERIES = "1.2.840.113619.2.290.3.3233817346.783.1399004564.515"


@pytest.fixture
def small_ct(tmp_path: Path, cirs_ct: Path) -> Path:
    folder = tmp_path / "ct"
    folder.mkdir()
    # 20 adjacent slices; 18.dcm (instance 163) lies 90 mm away, and no uniform grid would hold it with them
    for n in [*range(1, 18), *range(19, 22)]:
        shutil.copy(cirs_ct / f"{n}.dcm", folder / f"{n}.dcm")
    (folder / "README.txt").write_text("phantom scan\n")
    return folder


def test_scan_prints_the_tree_and_a_summary(small_ct: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(small_ct)]) == 0
    out = capsys.readouterr().out
    assert "Patient test (ID 0000000000000)" in out
    assert f"Series #2 CT ABDOMEN: 20 files  [{CT_SERIES}]" in out
    assert "volume 512 x 512 x 20" in out
    assert out.strip().endswith("20 files read, 1 skipped (1 not a DICOM file); 21 new, 0 changed, 0 unchanged, "
                                "0 removed")

    assert main(["scan", str(small_ct)]) == 0
    assert capsys.readouterr().out.strip().endswith(
        "0 files read, 1 skipped (1 not a DICOM file); 0 new, 0 changed, 21 unchanged, 0 removed")


def test_scan_reports_assembly_warnings(tmp_path: Path, cirs_ct: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "gap"
    folder.mkdir()
    for n in (1, 2, 3, 5, 6):  # slice 4 missing
        shutil.copy(cirs_ct / f"{n}.dcm", folder / f"{n}.dcm")
    assert main(["scan", str(folder)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning:" in line]
    assert warnings and any("missing" in w for w in warnings)


def test_anonymous_hides_patient_identity(small_ct: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(small_ct), "--anonymous"]) == 0
    out = capsys.readouterr().out
    assert "Patient 1" in out and "0000000000000" not in out and "Patient test" not in out
    assert CT_SERIES in out


def test_no_patient_identifiers_in_the_log(decubitus: Path, workstation_home: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "workstation", "scan", str(decubitus)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "crlab" in done.stdout  # the terminal shows who it is ...
    text = (workstation_home / "logs" / "workstation.log").read_text()
    assert "imported a folder" in text and "crlab" not in text and "HFS^" not in text  # ... the log does not


def test_missing_folder_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file or folder" in err and "Traceback" not in err


def test_folder_without_dicom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("nothing to see")
    assert main(["scan", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "no DICOM files found (1 files skipped)" in captured.err
    assert "0 files read, 1 skipped (1 not a DICOM file)" in captured.out


def test_as_a_process(small_ct: Path, workstation_home: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "workstation", "scan", str(small_ct), "--list-skipped"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"skipped {small_ct / 'README.txt'}: not a DICOM file" in done.stdout
    assert (workstation_home / "data" / "library.sqlite").exists()
