"""The robot hands as 21-keypoint arrays, so robot episodes get ``ego48`` from forward kinematics.

Filled: wrist (0), index/middle/little MCP (5, 9, 17) and the five fingertips
(4, 8, 12, 16, 20) — exactly the points ``dexego.hands.hand_frame`` and
``dexego.actions.keypoints_to_action(space="ego48")`` read. Others are NaN.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexego.hands import SIDES

# keypoint index -> site suffix
KEYPOINT_SITES = {
    0: "wrist",
    5: "index_mcp",
    9: "middle_mcp",
    17: "little_mcp",
    4: "thumb_tip",
    8: "index_tip",
    12: "middle_tip",
    16: "ring_tip",
    20: "little_tip",
}
FILLED_KEYPOINTS = tuple(sorted(KEYPOINT_SITES))


class HandKeypointReader:
    """Reads the robot's hand keypoints (world frame) from a model's sites.

    Works on the full robot and on a single-hand model (the missing side is NaN).
    """

    def __init__(self, model: mujoco.MjModel):
        self.site_ids = np.full((2, len(FILLED_KEYPOINTS)), -1, dtype=np.int64)
        for h, side in enumerate(SIDES):
            for k, kp in enumerate(FILLED_KEYPOINTS):
                self.site_ids[h, k] = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, f"{side}_{KEYPOINT_SITES[kp]}")
        self.present = (self.site_ids >= 0).all(axis=1)
        if not self.present.any():
            raise ValueError(
                "model has no hand sites (expected e.g. 'right_wrist', 'right_index_mcp', 'right_thumb_tip')"
            )

    def __call__(self, data: mujoco.MjData) -> np.ndarray:
        """(2, 21, 3) float64 world keypoints, NaN where the robot has no such point."""
        out = np.full((2, 21, 3), np.nan)
        for h in range(2):
            if self.present[h]:
                out[h, list(FILLED_KEYPOINTS)] = data.site_xpos[self.site_ids[h]]
        return out


def robot_keypoints(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """(2, 21, 3) world keypoints of both robot hands (left, right); see :class:`HandKeypointReader`."""
    return HandKeypointReader(model)(data)
