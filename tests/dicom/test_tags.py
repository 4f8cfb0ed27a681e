"""The tag tree the inspector shows, read from real scanner files."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from workstation.dicom.tags import dataset_tree, file_tree
from workstation.errors import DicomError


def _find(nodes, tag):
    return next(n for n in nodes if n["tag"] == tag)


def test_tree_of_a_ct_slice_names_values_and_identity(cirs_ct: Path) -> None:
    path = sorted(cirs_ct.iterdir())[0]
    tree = file_tree(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    rows = _find(tree, "(0028,0010)")
    assert (rows["name"], rows["vr"], rows["value"]) == ("Rows", "US", str(ds.Rows))
    assert _find(tree, "(0002,0010)")["value"] == str(ds.file_meta.TransferSyntaxUID)  # file meta first
    assert tree[0]["tag"].startswith("(0002,")
    assert _find(tree, "(0010,0010)")["identifying"] is True
    assert _find(tree, "(0028,0010)")["identifying"] is False
    assert all(n["tag"] != "(7FE0,0010)" for n in tree)  # pixels are never read
    spacing = _find(tree, "(0028,0030)")["value"]
    assert spacing.split("\\") == [str(v) for v in ds.PixelSpacing]


def test_sequences_become_items_and_inherit_identity() -> None:
    ds = pydicom.Dataset()
    ds.PatientName = "Doe^Jane"
    item = pydicom.Dataset()
    item.PatientID = "123"
    item.TextValue = "x" * 500
    other = pydicom.Dataset()
    other.CodeValue = "1"
    ds.OtherPatientIDsSequence = [item]
    ds.ReferencedImageSequence = [other, other]
    ds.add_new(0x00291010, "OB", b"\x00" * 17)
    tree = dataset_tree(ds)
    seq = _find(tree, "(0010,1002)")
    assert seq["value"] == "1 item" and seq["identifying"]
    (item_node,) = seq["children"]
    assert item_node["name"] == "Item 1"
    assert all(child["identifying"] for child in item_node["children"])
    long_value = _find(item_node["children"], "(0040,A160)")["value"]
    assert len(long_value) == 200 and long_value.endswith("…")
    refs = _find(tree, "(0008,1140)")
    assert refs["value"] == "2 items" and not refs["identifying"] and len(refs["children"]) == 2
    assert _find(tree, "(0029,1010)")["value"] == "<binary, 17 bytes>"


def test_a_file_that_is_not_dicom_is_one_line_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(DicomError) as info:
        file_tree(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
