"""A pydicom pixel plugin for 12-bit JPEG extended (1.2.840.10008.1.2.4.51) through GDCM.

Why: pydicom's own GDCM plugin refuses 12-bit JPEG extended and leaves it to
pylibjpeg-libjpeg, which is GPL-3.0 and therefore not in what we ship. GDCM
carries a 12-bit build of the IJG libjpeg and decodes it: on pydicom-data's
JPGExtended.dcm its values equal dcmtk's ``dcmdjpeg`` exactly (libjpeg's differ
by 1 in 3,612 pixels). The plugin hands GDCM one frame, the way pydicom's GDCM
plugin does for the other JPEG processes. The loader asks for it by name for
12-bit data (``plugin_for``), so the values do not depend on which other
plugins happen to be installed; 8-bit JPEG extended goes to pydicom's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydicom is imported when a frame is decoded, not with the loader
    from pydicom.pixels.decoders.base import DecodeRunner

LABEL = "gdcm-12bit"
JPEG_EXTENDED_12BIT = "1.2.840.10008.1.2.4.51"
DECODER_DEPENDENCIES = {JPEG_EXTENDED_12BIT: ("python-gdcm>=3.0.10",)}


def is_available(syntax: str) -> bool:
    """pydicom's plugin protocol: whether this plugin can decode ``syntax`` here."""
    if syntax not in DECODER_DEPENDENCIES:
        return False
    try:
        import gdcm  # noqa: F401
    except ImportError:
        return False
    return True


def decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """One encoded frame to its stored values (pydicom's plugin protocol)."""
    import gdcm

    if runner.samples_per_pixel != 1 or runner.bits_stored <= 8:
        raise NotImplementedError("the GDCM 12-bit plugin decodes 12-bit greyscale only")
    gdcm.Trace.WarningOff()  # GDCM tries its 8-bit libjpeg first and says so on stderr, for every frame
    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(src)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetValue(fragments.__ref__())
    image = gdcm.Image()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((runner.columns, runner.rows, 1))
    image.SetDataElement(element)
    photometric = gdcm.PhotometricInterpretation.GetPIType(runner.photometric_interpretation)
    image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(photometric))
    image.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(JPEG_EXTENDED_12BIT)))
    bits = runner.bits_stored
    image.SetPixelFormat(gdcm.PixelFormat(1, runner.bits_allocated, bits, bits - 1, runner.pixel_representation))
    frame = image.GetBuffer().encode("utf-8", "surrogateescape")  # GDCM hands char* back as str
    expected = runner.rows * runner.columns * runner.bits_allocated // 8
    if len(frame) != expected:
        raise ValueError(f"GDCM decoded {len(frame)} bytes, expected {expected}")
    return frame


def plugin_for(syntax: str, bits_stored: int) -> str:
    """The pydicom ``decoding_plugin`` for a file: this one for 12-bit JPEG extended, else "" (pydicom's choice)."""
    return LABEL if syntax == JPEG_EXTENDED_12BIT and bits_stored > 8 else ""


def register() -> None:
    """Add the plugin to pydicom's 12-bit JPEG extended decoder (once; later calls do nothing)."""
    from pydicom.pixels.decoders import JPEGExtended12BitDecoder as decoder

    try:
        decoder.add_plugin(LABEL, (__name__, "decode_frame"))
    except ValueError:  # pydicom's word for "already has a plugin of that name"
        pass
