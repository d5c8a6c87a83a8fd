"""Small helpers every MJCF generator of the simulator shares: number formatting and the ego camera's axes."""

from __future__ import annotations

import math


def numbers(*values: float) -> str:
    """Space-separated numbers as MJCF attributes take them (6 significant digits)."""
    return " ".join(f"{v:.6g}" for v in values)


def ego_camera_xyaxes(pitch_deg: float) -> tuple[float, ...]:
    """MJCF ``xyaxes`` of a head camera looking along world +x, tilted down by ``pitch_deg``.

    MuJoCo cameras look along their -z with y up: facing +x means x_cam = -y_world and
    z_cam = -x_world; the tilt turns the camera's y axis from world +z towards +x.
    """
    pitch = math.radians(pitch_deg)
    return (0.0, -1.0, 0.0, math.sin(pitch), 0.0, math.cos(pitch))
