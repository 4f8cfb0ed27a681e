"""The Linux installers as a user gets them: ``packaging/build.sh`` builds the bundle, the .deb and the
.tar.gz; the .deb is unpacked into a temporary root and the program under its ``opt/workstation`` runs its
self-test and the demo screenshot. Slow: one PyInstaller build (a few minutes on 2 cores) per run.
"""

from __future__ import annotations

import importlib.metadata
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
from licence_terms import debian_licences, distribution_is_gpl, expression_is_gpl
from PySide6.QtGui import QImage

from workstation.app.main import SCREENSHOT_SIZE
from workstation.licences import components, system_packages

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # one PyInstaller build: minutes on 2 cores

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"  # build.sh's default output folder
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
BUNDLE_LIMIT_MIB = 740  # measured 2026-12-01: see packaging/README.md; the bundle before was 774 MiB
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
    copyright_file = (installed.root / "usr" / "share" / "doc" / "workstation" / "copyright").read_text()
    assert (ROOT / "packaging" / "LICENSES.md").read_text(encoding="utf-8") == copyright_file


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


OWN = {"workstation", "widgets", "registration"}  # this project: its source tree, not a wheel's files
CPYTHON = ("python3.11", "base_library.zip", "libpython")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _owners() -> dict[str, set[str]]:
    """First path component in site-packages -> the distributions whose RECORD lists files under it."""
    owners: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or []:
            if file.parts and file.parts[0] != ".." and not file.parts[0].endswith((".dist-info", ".data")):
                owners.setdefault(file.parts[0], set()).add(dist.metadata["Name"])
    return owners


def _debian_package(library: str) -> str:
    for folder in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"):
        found = subprocess.run(["dpkg", "-S", f"{folder}/{library}"], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split(":")[0]
    raise AssertionError(f"{library}: bundled, but neither a Python package's file nor a Debian package's")


def _bundled(bundle: Path) -> tuple[set[str], set[str]]:
    """The Python distributions (from the build's virtualenv) and the Debian packages whose files the bundle holds.

    Python modules come from the program's own archive (PyInstaller's PYZ), files from ``_internal``, each traced
    to its owner through the distributions' RECORD files; a library no distribution owns must be a Debian one.
    """
    from PyInstaller.archive.readers import pkg_archive_contents

    owners = _owners()
    distributions: set[str] = set()
    for module in pkg_archive_contents(str(bundle / "workstation")):
        top = module.split(".")[0]
        distributions |= owners.get(top, set()) | owners.get(f"{top}.py", set())
    debian: set[str] = set()
    for path in (bundle / "_internal").iterdir():
        if path.name in owners:
            distributions |= owners[path.name]
        elif path.is_symlink() or path.name.endswith(".dist-info") or path.name in OWN:
            continue
        elif path.name.startswith(CPYTHON):
            continue
        else:
            assert path.open("rb").read(4) == b"\x7fELF", f"{path.name}: bundled, owner unknown"
            debian.add(_debian_package(path.name))
    return {d for d in distributions if _normal(d) not in OWN}, debian


def test_nothing_bundled_is_gpl_and_everything_bundled_is_credited(installed: Installed) -> None:
    """Every distribution and system library in the bundle, by its own metadata; not by our list."""
    distributions, debian = _bundled(installed.program.parent)
    print(f"\nbundled distributions: {', '.join(sorted(distributions))}\nDebian packages: {', '.join(sorted(debian))}")
    assert {"vtk", "simpleitk", "pydicom", "python-gdcm", "pyjpegls"} <= {_normal(d) for d in distributions}
    gpl = {d for d in distributions if distribution_is_gpl(importlib.metadata.metadata(d))}
    assert gpl == set()
    credited = {_normal(c.distribution) for c in components() if c.distribution and c.bundled}
    assert {_normal(d) for d in distributions} - credited == set()
    assert debian - set(system_packages()) == set()
    for package in debian:
        assert not expression_is_gpl(system_packages()[package]), package
        machine_readable = debian_licences(package)
        if machine_readable:
            assert not expression_is_gpl(" OR ".join(machine_readable)), (package, machine_readable)


def test_the_bundle_stays_small(installed: Installed) -> None:
    """What the program never loads is left out (packaging/README.md has the figures); sizes in MiB, as du shows."""
    internal = installed.program.parent / "_internal"
    sizes: dict[str, int] = {}
    for path in internal.rglob("*"):
        if path.is_file() and not path.is_symlink():
            top = path.relative_to(internal).parts[0]
            key = top if (internal / top).is_dir() else "(top-level files)"
            sizes[key] = sizes.get(key, 0) + path.stat().st_size
    total = sum(sizes.values())
    for name, size in sorted(sizes.items(), key=lambda item: -item[1])[:12]:
        print(f"{name:24s} {size / 2**20:7.1f} MiB")
    print(f"{'total':24s} {total / 2**20:7.1f} MiB")
    assert total < BUNDLE_LIMIT_MIB * 2**20
    assert not (internal / "libjpeg").exists() and not list(internal.glob("libreadline*"))
