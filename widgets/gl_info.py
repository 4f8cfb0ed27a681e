"""What the OpenGL context can do: its renderer string and the largest 3D texture it accepts.

Why: volume rendering uploads the volume as one 3D texture. A context that
cannot hold it (old GPUs, some remote or software drivers) would fail or
render garbage; the 3D view asks here and downsamples with a notice instead.
The query goes through VTK's own ``vtkTextureObject`` in a small offscreen
context of the same driver, once per process: rendering a view's own window
before Qt has mapped it, to get a context to ask, crashed now and then.
"""

from __future__ import annotations

import logging
import re
from functools import cache

from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow
from vtkmodules.vtkRenderingOpenGL2 import vtkTextureObject

CONSERVATIVE_3D_TEXTURE_SIZE = 256
"""What every OpenGL 3.2 core context must support; used when the query is impossible."""

log = logging.getLogger(__name__)


@cache
def max_3d_texture_size() -> int:
    """GL_MAX_3D_TEXTURE_SIZE of this process's OpenGL driver, or a conservative 256 when it cannot be asked."""
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(8, 8)
    window.AddRenderer(vtkRenderer())
    try:
        window.Render()
        value = vtkTextureObject.GetMaximumTextureSize3D(window)
    finally:
        window.Finalize()
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
