"""Multi-modal image registration with SimpleITK: pure numpy/SimpleITK, no Qt, VTK or DICOM."""
