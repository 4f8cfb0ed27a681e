"""What the OpenGL context can do: its renderer string and the largest 3D texture it accepts.

Why: volume rendering uploads the volume as one 3D texture. A context that
cannot hold it (old GPUs, some remote or software drivers) would fail or
render garbage; the 3D view asks here and downsamples with a notice instead.
VTK does not wrap ``glGetIntegerv``, so the query goes through the system's
OpenGL library with ctypes while VTK's context is current.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import re
import sys

from vtkmodules.vtkRenderingCore import vtkRenderWindow

GL_MAX_3D_TEXTURE_SIZE = 0x8073
CONSERVATIVE_3D_TEXTURE_SIZE = 256
"""What every OpenGL 3.2 core context must support; used when the query is impossible."""

log = logging.getLogger(__name__)


def _gl_library() -> ctypes.CDLL | None:
    names = ["opengl32"] if sys.platform == "win32" else ["libGL.so.1", ctypes.util.find_library("GL") or "",
                                                          "/System/Library/Frameworks/OpenGL.framework/OpenGL"]
    for name in filter(None, names):
        try:
            return ctypes.WinDLL(name) if sys.platform == "win32" else ctypes.CDLL(name)
        except OSError:
            continue
    return None


def max_3d_texture_size(render_window: vtkRenderWindow) -> int:
    """GL_MAX_3D_TEXTURE_SIZE of the window's context (rendered once if needed), or a conservative 256."""
    library = _gl_library()
    if library is None:
        log.warning("OpenGL library not found; assuming a %d^3 texture limit", CONSERVATIVE_3D_TEXTURE_SIZE)
        return CONSERVATIVE_3D_TEXTURE_SIZE
    if not render_window.GetMapped() and not render_window.GetOffScreenRendering():
        render_window.Render()
    render_window.MakeCurrent()
    value = ctypes.c_int(0)
    library.glGetIntegerv(GL_MAX_3D_TEXTURE_SIZE, ctypes.byref(value))
    if value.value <= 0:
        log.warning("GL_MAX_3D_TEXTURE_SIZE query failed; assuming %d", CONSERVATIVE_3D_TEXTURE_SIZE)
        return CONSERVATIVE_3D_TEXTURE_SIZE
    return int(value.value)


def renderer_string(render_window: vtkRenderWindow) -> str:
    """The OpenGL renderer (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)") and version, from VTK's capabilities report."""
    report = render_window.ReportCapabilities() or ""
    renderer = re.search(r"OpenGL renderer string:\s*(.+)", report)
    version = re.search(r"OpenGL version string:\s*(.+)", report)
    return " / ".join(m.group(1).strip() for m in (renderer, version) if m) or "unknown"
