"""The About dialog: version, licences of the bundled components, credits for the data sets.

Why: the licences of PySide6 (LGPL), VTK, pydicom, highdicom, SimpleITK and
the test data's authors require the credit to be visible to users. The list
is ``resources/licences.json`` (``workstation.licences``), the same one
packaging/LICENSES.md is tested against.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from workstation import __version__
from workstation.licences import components, program_licence, system_packages

DATA_CREDITS = [
    ("CIRS Model 057A phantom CT and MR (CIRS057A_MR_CT_DICOM)", "SimpleITK-Notebooks, Apache-2.0"),
    ("dcm_qa_ts, dcm_qa_decubitus", "dcm2niix validation suite by Chris Rorden, BSD 2-Clause"),
    ("Demo head phantom", "synthetic, made by this program"),
]


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def about_html() -> str:
    """The dialog's text: plain HTML, also used by the tests."""
    parts = [f"<h2>Workstation {__version__}</h2>",
             "<p>A desktop DICOM viewer with MPR, 3D and multi-modal registration. "
             "Not a medical device: not for diagnosis.</p>",
             f"<p>Licence: {program_licence()}.</p>",
             "<h3>Components</h3><table>"]
    parts += [f"<tr><td>{c.name}</td><td>{_installed(c.distribution) if c.distribution else ''}</td>"
              f"<td>{c.licence}{'' if c.bundled else ' (not in the installer)'}</td></tr>" for c in components()]
    parts += ["</table><h3>System libraries in the Linux installer</h3><table>"]
    parts += [f"<tr><td>{package}</td><td>{licence}</td></tr>" for package, licence in system_packages().items()]
    parts += ["</table><h3>Data</h3><ul>"]
    parts += [f"<li>{what}: {credit}</li>" for what, credit in DATA_CREDITS]
    parts += ["</ul>"]
    return "".join(parts)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Workstation")
        self.text = QTextBrowser()
        self.text.setHtml(about_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(560, 480)
