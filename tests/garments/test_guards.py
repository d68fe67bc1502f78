"""The drape guards every garment kind shares (garments.settings)."""

from __future__ import annotations

import numpy as np
import pytest


def test_far_guard_fails_a_drape_whose_cloth_left_the_body(tmp_path):
    from engine.errors import SimulationError
    from garments.settings import FAR_M, MAX_FAR, far_guard

    worn = np.full(1000, 0.01)
    worn[:5] = 0.35  # a flared hem: far, but worn
    far_guard(worn, "skirt", "hint", tmp_path / "blender.log")
    flown = worn.copy()
    flown[: int(1000 * MAX_FAR) + 5] = 7.1  # pieces of a triangle soup fell away
    with pytest.raises(SimulationError) as info:
        far_guard(flown, "imported dress", "export it sewn", tmp_path / "blender.log")
    assert f"more than {FAR_M:.1f} m" in str(info.value) and "7.10 m" in str(info.value)
    assert info.value.log_path == tmp_path / "blender.log"


def test_settle_guard_fails_a_cloth_still_falling_at_its_frame_cap(tmp_path):
    from engine.errors import SimulationError
    from garments.settings import MAX_UNSETTLED_MM, settle_guard

    log = tmp_path / "blender.log"
    settle_guard(True, 80, 500.0, "dress", "hint", log)  # settled: the last frame's motion is its own business
    settle_guard(False, 6, 24.0, "dress", "hint", log)  # stopped early by a low frame cap, hanging: passes
    with pytest.raises(SimulationError) as info:
        settle_guard(False, 250, 259.0, "imported soup", "export it sewn", log)
    assert "did not settle in 250 frames" in str(info.value) and "259 mm" in str(info.value)
    assert f"{MAX_UNSETTLED_MM:.0f} mm" in str(info.value) and info.value.log_path == log
