"""PACS networking: DIMSE (pynetdicom) and DICOMweb (dicomweb-client) clients, and the storage listener.

Everything that arrives lands in ``paths.received_dir()`` and in the study
library through ``workstation.net.store``. No Qt, no VTK: the CLI and the GUI
call the same functions, as jobs.
"""
