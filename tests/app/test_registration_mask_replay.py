"""A masked registration run replays with its mask from the history, whatever the segment editor shows then.

The demo CT fused with its MR; a sphere painted on the CT is the fixed
mask. The mask kept beside the history is read back by SimpleITK and
compared with the painted voxels and the CT's grid in LPS; the replay's
transform must equal the original's exactly (same seed, same threads),
and a run without the mask must not (so the equality is the mask's doing).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk

from registration.parameters import LevelSettings, load_preset
from tests.app.test_registration_ui import paired  # noqa: F401 - the fixture: demo CT fused with its MR
from tests.app.test_segmentation_gui import paint_sphere
from workstation.registration_jobs import RunRequest

pytestmark = pytest.mark.gui


def short_request() -> RunRequest:
    """ct-mr-rigid cut to one coarse level from the geometric start: a few seconds, still mask-sensitive."""
    params = replace(load_preset("ct-mr-rigid"),
                     levels=[LevelSettings(spacing_mm=4.0, iterations=30, step_mm=2.0, sampling_percentage=0.5)])
    return RunRequest(params, "geometry", seed=7)


def test_a_masked_run_replays_with_its_kept_mask(qtbot, paired):  # noqa: F811 - the fixture
    window, registration = paired
    segmentation = window.segmentation
    segmentation.new_labels()  # on the fixed CT
    paint_sphere(window, segmentation, 40.0)
    painted = segmentation.labels.array == 1
    assert painted.sum() > 1000
    segmentation.editor.registration_mask.setChecked(True)

    with qtbot.waitSignal(registration.runFinished, timeout=300_000) as first:
        registration.run(short_request())
    original = first.args[0]
    kept = registration._history_path().parent / original["request"]["fixed_mask_file"]
    assert original["request"]["fixed_mask"] == "Segment 1" and kept.is_file()

    # the kept mask, read by SimpleITK: the painted voxels, on the fixed CT's grid in LPS
    image = sitk.ReadImage(str(kept))
    assert np.array_equal(sitk.GetArrayFromImage(image).astype(bool), painted)
    fixed = registration.fixed.volume
    for corner in ([0, 0, 0], [v - 1 for v in fixed.shape_ijk]):
        assert np.allclose(image.TransformIndexToPhysicalPoint([int(c) for c in corner]),
                           fixed.index_to_world(corner), atol=1e-4)

    # the editor no longer offers the mask and the segment is gone: the replay still runs with the kept one
    segmentation.editor.registration_mask.setChecked(False)
    segmentation.remove_segment(1)
    with qtbot.waitSignal(registration.runFinished, timeout=300_000) as again:
        assert registration.rerun_history(len(registration.history) - 1) is not None
    assert np.array_equal(np.asarray(again.args[0]["matrix_lps"]), np.asarray(original["matrix_lps"]))
    assert again.args[0]["request"]["fixed_mask_file"] == kept.name

    # without the mask the same request ends elsewhere: the mask is what the replay reproduced
    with qtbot.waitSignal(registration.runFinished, timeout=300_000) as unmasked:
        registration.run(replace(short_request(), threads=original["threads"]))
    assert unmasked.args[0]["request"]["fixed_mask"] is None
    assert not np.allclose(np.asarray(unmasked.args[0]["matrix_lps"]), np.asarray(original["matrix_lps"]), atol=1e-3)

    # the kept mask gone: the replay is refused in one line naming it, rather than run without the mask
    kept.unlink()
    assert registration.rerun_history(0) is None and not registration.running
    status = registration.panel.status.text()
    assert "mask is missing" in status and kept.name in status and "\n" not in status
