#!/usr/bin/env bash
# Build the Linux installers from a checkout: the one-folder bundle, the .deb and the portable .tar.gz.
#
#   bash packaging/build.sh
#
# Uses the virtualenv .venv of the checkout (creates it with python3 -m venv when missing; another one with
# WORKSTATION_VENV=/path) and installs the project into it with the `package` extra (PyInstaller). That install
# also refreshes the project's metadata, so the bundle carries the version written in pyproject.toml.
# Writes, under dist/ (or $WORKSTATION_DIST):
#   workstation/                              the bundle: run dist/workstation/workstation
#   workstation_VERSION_ARCH.deb              installs /opt/workstation, /usr/bin/workstation, menu entry, icon
#   workstation-VERSION-linux-MACHINE.tar.gz  the bundle as a portable archive
# PyInstaller's work files go to build/pyinstaller (kept: a rebuild after a small change is faster).
# Needs: python3 (3.11+) with venv, binutils (objdump, strip: PyInstaller uses them), dpkg-deb, tar, gzip.
# No root needed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=${WORKSTATION_VENV:-$ROOT/.venv}
DIST=${WORKSTATION_DIST:-$ROOT/dist}
WORK=$ROOT/build

step() { printf '\n== %s\n' "$*"; }

step "virtualenv $VENV with the package extra"
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
# the local wheel mirrors warn about every project they do not hold: noise, not news
"$VENV/bin/python" -m pip install -q -e ".[package]" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
VERSION=$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("workstation"))')
ARCH=$(dpkg --print-architecture)
echo "workstation $VERSION for $ARCH"

step "bundle (PyInstaller) -> $DIST/workstation"
started=$SECONDS
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath "$DIST" --workpath "$WORK/pyinstaller" \
    packaging/workstation.spec
# Symbol tables are nothing the program reads at run time and a quarter of VTK's size (about 85 MB), most of
# libpython's, CharLS's and OpenJPEG's: strip every library that still has them, except what auditwheel repaired
# with patchelf (a wheel's *.libs folder and the modules whose RUNPATH points there), which strip can break
# (numpy's OpenBLAS did). PyInstaller's strip option would strip those too.
while IFS= read -r -d '' library; do
    [[ $library == *.libs/* ]] && continue
    readelf -d "$library" 2>/dev/null | grep -q 'R\(UN\)\?PATH.*\.libs' && continue
    readelf -S -W "$library" 2>/dev/null | grep -q ' \.symtab ' || continue
    strip --strip-unneeded "$library"
done < <(find "$DIST/workstation/_internal" -type f -name '*.so*' -print0)
echo "bundle built in $((SECONDS - started)) s"

step "Debian package"
DEB_ROOT=$WORK/deb/workstation
rm -rf "$DEB_ROOT"
mkdir -p "$DEB_ROOT/DEBIAN" "$DEB_ROOT/opt" "$DEB_ROOT/usr/bin" "$DEB_ROOT/usr/share/applications" \
    "$DEB_ROOT/usr/share/icons/hicolor/256x256/apps" "$DEB_ROOT/usr/share/icons/hicolor/scalable/apps" \
    "$DEB_ROOT/usr/share/doc/workstation"
cp -a "$DIST/workstation" "$DEB_ROOT/opt/workstation"
# a script, not a symlink: the program finds its _internal folder from its own path either way, but a script
# keeps `ps` and crash reports naming /opt/workstation/workstation
printf '#!/bin/sh\nexec /opt/workstation/workstation "$@"\n' > "$DEB_ROOT/usr/bin/workstation"
chmod 755 "$DEB_ROOT/usr/bin/workstation"
install -m 644 packaging/linux/workstation.desktop "$DEB_ROOT/usr/share/applications/workstation.desktop"
install -m 644 resources/icons/workstation.png "$DEB_ROOT/usr/share/icons/hicolor/256x256/apps/workstation.png"
install -m 644 resources/icons/workstation.svg "$DEB_ROOT/usr/share/icons/hicolor/scalable/apps/workstation.svg"
install -m 644 packaging/LICENSES.md "$DEB_ROOT/usr/share/doc/workstation/copyright"
DEPENDS=$(grep -v '^\s*\(#\|$\)' packaging/linux/depends.txt | cut -d: -f1 | paste -sd, - | sed 's/,/, /g')
SIZE_KB=$(du -sk --exclude=DEBIAN "$DEB_ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE_KB@/$SIZE_KB/" -e "s/@DEPENDS@/$DEPENDS/" \
    packaging/linux/control.in > "$DEB_ROOT/DEBIAN/control"
DEB=$DIST/workstation_${VERSION}_${ARCH}.deb
# gzip, not the default xz: several times faster to build and to install, for about a fifth more bytes
dpkg-deb --root-owner-group -Zgzip -z6 --build "$DEB_ROOT" "$DEB"
rm -rf "$DEB_ROOT"  # a second copy of the bundle

step "portable archive"
TARBALL=$DIST/workstation-$VERSION-linux-$(uname -m).tar.gz
tar -C "$DIST" -czf "$TARBALL" workstation

step "done"
du -sh "$DIST/workstation" "$DEB" "$TARBALL"
