#!/usr/bin/env bash
# macOS: build Workstation.app (PyInstaller BUNDLE in packaging/workstation.spec) and a compressed .dmg.
# NOT BUILT OR TESTED on the project's machines (Linux only); see packaging/README.md.
#
#   bash packaging/macos/make_dmg.sh
#
# Needs macOS 11+, Python 3.11+ (python.org or Homebrew), Xcode command line tools (hdiutil, codesign).
# Builds for the machine's architecture (arm64 or x86_64): the wheels of VTK, Qt and SimpleITK are not universal2.
# Signing and notarisation (needed so Gatekeeper opens the app without a right-click > Open) are optional:
#   CODESIGN_IDENTITY="Developer ID Application: NAME (TEAMID)" NOTARY_PROFILE=profile-name bash packaging/macos/make_dmg.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VENV=${WORKSTATION_VENV:-$PWD/.venv}
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -e ".[package]"
VERSION=$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("workstation"))')

"$VENV/bin/pyinstaller" --noconfirm --distpath dist --workpath build/pyinstaller packaging/workstation.spec
APP=dist/Workstation.app
cp packaging/LICENSES.md "$APP/Contents/Resources/LICENSES.md"

if [[ -n ${CODESIGN_IDENTITY:-} ]]; then
    codesign --force --deep --options runtime --timestamp --sign "$CODESIGN_IDENTITY" "$APP"
    codesign --verify --deep --strict "$APP"
fi

# the self-test of the frozen program, before packing it
"$APP/Contents/MacOS/workstation" --self-test

STAGE=build/dmg
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
cp packaging/LICENSES.md "$STAGE/LICENSES.md"
DMG=dist/Workstation-$VERSION-macos-$(uname -m).dmg
rm -f "$DMG"
hdiutil create -volname "Workstation $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"

if [[ -n ${CODESIGN_IDENTITY:-} ]]; then
    codesign --sign "$CODESIGN_IDENTITY" --timestamp "$DMG"
    if [[ -n ${NOTARY_PROFILE:-} ]]; then
        xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
        xcrun stapler staple "$DMG"
    fi
fi
echo "built $DMG"
