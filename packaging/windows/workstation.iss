; Inno Setup 6 script: Windows installer for the one-folder bundle.
; NOT BUILT OR TESTED on the project's machines (Linux only); see packaging/README.md.
;
; On Windows, from the repository root, with Python 3.11+ and Inno Setup 6 installed:
;   py -3.11 -m venv .venv
;   .venv\Scripts\pip install -e ".[package]"
;   .venv\Scripts\pyinstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\workstation.spec
;   for /f %v in ('.venv\Scripts\python -c "from importlib.metadata import version; print(version(\"workstation\"))"') do set WS_VERSION=%v
;   "%ProgramFiles(x86)%\Inno Setup 6\ISCC.exe" /DAppVersion=%WS_VERSION% packaging\windows\workstation.iss
; Output: dist\workstation-<version>-setup.exe. Then check the installed program:
;   "%ProgramFiles%\Workstation\workstation-cli.exe" --self-test
; (workstation.exe is the windowed GUI without a console; workstation-cli.exe is the same program with one,
; for the command line and the self-test)

#ifndef AppVersion
  #error Pass the version from pyproject.toml: ISCC /DAppVersion=X.Y.Z
#endif

[Setup]
AppId={{5B7C1E0A-3F0D-4C52-9E3B-8D1C2A6F4E17}
AppName=Workstation
AppVersion={#AppVersion}
AppPublisher=Workstation maintainers
DefaultDirName={autopf}\Workstation
DefaultGroupName=Workstation
DisableProgramGroupPage=yes
; the bundle is 64-bit only
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
OutputDir=..\..\dist
OutputBaseFilename=workstation-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\workstation.ico
UninstallDisplayIcon={app}\workstation.exe
LicenseFile=..\LICENSES.md
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\workstation\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "..\LICENSES.md"; DestDir: "{app}"; DestName: "LICENSES.txt"

[Icons]
Name: "{group}\Workstation"; Filename: "{app}\workstation.exe"
Name: "{group}\Workstation demo study"; Filename: "{app}\workstation.exe"; Parameters: "--demo"
Name: "{group}\{cm:UninstallProgram,Workstation}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Workstation"; Filename: "{app}\workstation.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\workstation.exe"; Parameters: "--demo"; Description: "Open the demo study"; Flags: nowait postinstall skipifsilent
