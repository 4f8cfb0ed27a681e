"""DICOM library: scan folders, keep a study library, assemble series, decode pixels, export."""
