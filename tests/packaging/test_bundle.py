"""The Linux installers as a user gets them: ``packaging/build.sh`` builds the bundle, the .deb and the
.tar.gz; the .deb is unpacked into a temporary root and the program under its ``opt/workstation`` runs its
self-test and the demo screenshot. Slow: one PyInstaller build (a few minutes on 2 cores) per run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from workstation.app.main import SCREENSHOT_SIZE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # one PyInstaller build: minutes on 2 cores

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"  # build.sh's default output folder
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


@dataclass
class Installed:
    deb: Path
    tarball: Path
    root: Path  # the .deb unpacked here, as dpkg would install it under /

    @property
    def program(self) -> Path:
        return self.root / "opt" / "workstation" / "workstation"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    started = time.perf_counter()
    done = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh")], capture_output=True, text=True,
                          env={**os.environ, "WORKSTATION_VENV": sys.prefix}, timeout=3600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    print(f"\npackaging/build.sh: {time.perf_counter() - started:.0f} s")
    deb = DIST / f"workstation_{VERSION}_{ARCH}.deb"
    tarball = DIST / f"workstation-{VERSION}-linux-{os.uname().machine}.tar.gz"
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return Installed(deb, tarball, root)


def _run(program: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "WORKSTATION_HOME": str(home)})


def _depends() -> dict[str, list[str]]:
    """packaging/linux/depends.txt: package (with version constraint) -> the libraries it provides."""
    out = {}
    for line in (ROOT / "packaging" / "linux" / "depends.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            package, _, libraries = line.partition(":")
            out[package.strip()] = libraries.split()
    return out


def test_the_deb_installs_program_launcher_menu_entry_icon_and_licences(installed: Installed) -> None:
    fields = subprocess.run(["dpkg-deb", "-f", str(installed.deb)], capture_output=True, text=True,
                            check=True).stdout
    assert re.search(rf"^Version: {re.escape(VERSION)}$", fields, re.M)
    assert re.search(r"^Package: workstation$", fields, re.M)
    depends = re.search(r"^Depends: (.+)$", fields, re.M).group(1).split(", ")
    assert depends == list(_depends())
    assert os.access(installed.program, os.X_OK)
    launcher = installed.root / "usr" / "bin" / "workstation"
    assert os.access(launcher, os.X_OK)
    assert "exec /opt/workstation/workstation " in launcher.read_text()
    entry = (installed.root / "usr" / "share" / "applications" / "workstation.desktop").read_text()
    assert re.search(r"^Exec=workstation( |$)", entry, re.M) and re.search(r"^Icon=workstation$", entry, re.M)
    icon = installed.root / "usr" / "share" / "icons" / "hicolor" / "256x256" / "apps" / "workstation.png"
    assert QImage(str(icon)).size().toTuple() == (256, 256)
    assert "GPL-3.0" in (installed.root / "usr" / "share" / "doc" / "workstation" / "copyright").read_text()


def test_the_installed_program_passes_its_self_test(installed: Installed, tmp_path: Path) -> None:
    assert os.environ.get("DISPLAY")  # the frame must be rendered, not skipped
    done = _run(installed.program, "--self-test", home=tmp_path)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"workstation {VERSION} self-test (python ")
    assert "frozen bundle" in done.stdout.splitlines()[0]
    statuses = re.findall(r"^(PASS|FAIL|SKIP) ([a-z ]+):", done.stdout, re.M)
    assert [name for _, name in statuses] == ["version", "decode", "demo study", "registration", "about", "render"]
    assert {status for status, _ in statuses} == {"PASS"}


def test_the_installed_program_shows_the_demo_in_every_view(installed: Installed, tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    done = _run(installed.program, "--demo", "--screenshot", str(out), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    image = QImage(str(out)).convertToFormat(QImage.Format.Format_RGB888)
    assert image.size().toTuple() == SCREENSHOT_SIZE
    w, h = image.width(), image.height()
    pixels = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(h, -1)[:, : 3 * w]
    pixels = pixels.reshape(h, w, 3)
    views = pixels[100:-200, 450:-400].astype(int)  # the 2x2 views, away from the docks
    rows, cols = views.shape[0] // 2, views.shape[1] // 2
    for quadrant in (views[:rows, :cols], views[:rows, cols:], views[rows:, :cols], views[rows:, cols:]):
        assert quadrant.std() > 10  # each view shows an image, not a flat colour
    coloured = np.abs(views[..., 0] - views[..., 2]) > 40  # the slices are grey; the 3D render is coloured
    assert coloured[rows:, cols:].mean() > 0.01 and coloured[:rows, :cols].mean() < 0.01


def test_the_frozen_command_line_reports_the_pyproject_version(installed: Installed, tmp_path: Path) -> None:
    done = _run(installed.program, "--version", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"workstation {VERSION}"


def _needed(path: Path) -> list[str]:
    dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", dynamic)


def test_every_library_from_outside_the_bundle_is_a_declared_dependency(installed: Installed) -> None:
    bundle = installed.program.parent
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    inside = {p.name for p in bundle.rglob("*")}
    elves = [p for p in files if p.open("rb").read(4) == b"\x7fELF"]
    outside = {lib for elf in elves for lib in _needed(elf)} - inside
    declared = {lib: package for package, libs in _depends().items() for lib in libs}
    assert outside - set(declared) == set()
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for lib in outside:  # where this machine has the library, its package must be the declared one
        found = re.search(rf"^\s*{re.escape(lib)} \(.*x86-64.*\) => (\S+)$", cache, re.M)
        if found:  # dpkg knows a file by the path it was installed as: /lib/... or, after usrmerge, /usr/lib/...
            paths = dict.fromkeys([found.group(1), os.path.realpath(found.group(1))])
            owners = [subprocess.run(["dpkg", "-S", p], capture_output=True, text=True).stdout.split(":")[0]
                      for p in paths]
            assert declared[lib].split()[0] in owners, (lib, owners)


def test_the_gui_bundle_leaves_out_the_experiments_stack_and_unused_qt(installed: Installed) -> None:
    internal = installed.program.parent / "_internal"
    names = {p.name for p in internal.iterdir()}
    for package in ("dask", "distributed", "pandas", "pyarrow", "matplotlib", "yaml"):
        assert package not in names
    qt_libs = {p.name.split(".")[0] for p in (internal / "PySide6" / "Qt" / "lib").iterdir()}
    assert {"libQt6Core", "libQt6Gui", "libQt6Widgets", "libQt6XcbQpa"} <= qt_libs
    assert not {lib for lib in qt_libs if re.match(r"libQt6(WebEngine|Quick|Qml|Pdf|3D|Multimedia)", lib)}


def test_the_portable_archive_holds_the_same_bundle(installed: Installed) -> None:
    with tarfile.open(installed.tarball) as archive:
        in_archive = {m.name.removeprefix("workstation/") for m in archive.getmembers() if m.isfile()}
    bundle = installed.program.parent
    in_deb = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()}
    assert in_archive == in_deb
