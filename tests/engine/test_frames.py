import numpy as np

from engine.frames import blender_to_canonical, canonical_matrix_to_blender, canonical_to_blender


def test_blender_round_trip_and_axes():
    p = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(blender_to_canonical(canonical_to_blender(p)), p)
    # canonical up (+Y) is Blender up (+Z); canonical facing (+Z) is Blender's front (-Y)
    assert np.allclose(canonical_to_blender([0, 1, 0]), [0, 0, 1])
    assert np.allclose(canonical_to_blender([0, 0, 1]), [0, -1, 0])
    m = np.eye(4)
    m[:3, 3] = [0, 1, 2]
    assert np.allclose(canonical_matrix_to_blender(m)[:3, 3], canonical_to_blender([0, 1, 2]))
