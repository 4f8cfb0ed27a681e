"""What the OpenGL context can do: its renderer string and the largest 3D texture it accepts.

Why: volume rendering uploads the volume as one 3D texture. A context that
cannot hold it (old GPUs, some remote or software drivers) would fail or
render garbage; the 3D view asks here and downsamples with a notice instead.
The query goes through VTK's own ``vtkTextureObject``, inside VTK's context:
calling ``glGetIntegerv`` through ctypes crashed now and then (a segfault
when the dispatch did not see VTK's context as current).
"""

from __future__ import annotations

import logging
import re

from vtkmodules.vtkRenderingCore import vtkRenderWindow
from vtkmodules.vtkRenderingOpenGL2 import vtkTextureObject

CONSERVATIVE_3D_TEXTURE_SIZE = 256
"""What every OpenGL 3.2 core context must support; used when the query is impossible."""

log = logging.getLogger(__name__)


def max_3d_texture_size(render_window: vtkRenderWindow) -> int:
    """GL_MAX_3D_TEXTURE_SIZE of the window's context (rendered once if needed), or a conservative 256."""
    if not render_window.GetMapped() and not render_window.GetOffScreenRendering():
        render_window.Render()
    value = vtkTextureObject.GetMaximumTextureSize3D(render_window)
    if value <= 0:
        log.warning("GL_MAX_3D_TEXTURE_SIZE query failed; assuming %d", CONSERVATIVE_3D_TEXTURE_SIZE)
        return CONSERVATIVE_3D_TEXTURE_SIZE
    return int(value)


def renderer_string(render_window: vtkRenderWindow) -> str:
    """The OpenGL renderer (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)") and version, from VTK's capabilities report."""
    report = render_window.ReportCapabilities() or ""
    renderer = re.search(r"OpenGL renderer string:\s*(.+)", report)
    version = re.search(r"OpenGL version string:\s*(.+)", report)
    return " / ".join(m.group(1).strip() for m in (renderer, version) if m) or "unknown"
