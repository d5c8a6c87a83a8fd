"""Simulator-like test videos with known hands: a pick-and-place with clear phases, drawn over a 3D scene.

The right hand rests, reaches an object, pauses to grasp (fingers close),
carries it, pauses to release, and returns; the left hand barely moves. The
scene is a table and a wall of coloured 3D splats (texture for optical flow
and odometry), the hands are drawn as skin-coloured skeletons and the object
as a red disc. The camera is static or moves (rotation, optionally with
translation). Ground truth (camera-frame keypoints, camera poses, phase
changes) and intrinsics are written next to the video (see
:mod:`dexego.annotate.sidecar`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexego.annotate.depth import MEAN_PALM_LENGTH
from dexego.annotate.sidecar import write_ground_truth
from dexego.geometry import Intrinsics, euler_to_matrix, invert_transform, make_transform
from dexego.hands import BONES

# (hold, reach, grasp pause, carry, release pause, return, hold) durations in seconds.
PHASES = (0.5, 1.2, 0.6, 1.4, 0.6, 1.2, 0.5)
REST, OBJECT, TARGET = np.array([0.15, 0.20, 0.35]), np.array([0.04, 0.25, 0.55]), np.array([-0.12, 0.23, 0.50])
LEFT_REST = np.array([-0.20, 0.22, 0.40])


@dataclass(frozen=True)
class SceneConfig:
    width: int = 320
    height: int = 240
    fps: int = 30
    fov_deg: float = 75.0
    camera_motion: str = "static"  # "static", "rotate" or "move" (rotation and translation)
    hand_scale: float = 1.0  # true hand size relative to the depth prior's
    splats: int = 2500
    seed: int = 0


def hand_pose_points(grip: float, side: str, palm_length: float = MEAN_PALM_LENGTH) -> np.ndarray:
    """(21, 3) keypoints of a palm-down hand pointing away from the camera, wrist at the origin, ``grip`` in [0, 1]."""
    s = palm_length / 0.095
    spread = np.array([0.035, 0.018, 0.0, -0.017, -0.032]) * s  # MCP offsets across the palm (thumb first)
    mcp_x = np.array([0.035, 0.095, 0.095, 0.088, 0.080]) * s
    lengths = (
        np.array(
            [
                [0.035, 0.030, 0.028],
                [0.040, 0.024, 0.020],
                [0.045, 0.028, 0.022],
                [0.042, 0.026, 0.020],
                [0.032, 0.020, 0.018],
            ]
        )
        * s
    )
    local = np.zeros((21, 3))
    for f in range(5):
        base = np.array([mcp_x[f], spread[f], 0.0])
        local[1 + 4 * f] = base
        angle = 0.25 if f else 0.5  # thumb splays out
        direction = np.array([np.cos(angle * (1 if f == 0 else 0)), np.sin(angle) if f == 0 else 0.0, 0.0])
        point = base
        for j in range(3):
            bend = grip * (0.9 if f else 0.5) * (j + 1)
            d = np.array([direction[0] * np.cos(bend), direction[1], np.sin(bend)])  # curl toward the palm (+z local)
            point = point + lengths[f, j] * d / np.linalg.norm(d)
            local[2 + 4 * f + j] = point
    if side == "left":
        local[:, 1] *= -1
    # local x (fingers) -> camera/world +z (forward), local z (palm normal) -> +y (down), local y -> -x.
    rotation = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    return local @ rotation.T


def _min_jerk(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    s = np.linspace(0, 1, n, endpoint=False)[:, None]
    return a + (b - a) * (10 * s**3 - 15 * s**4 + 6 * s**5)


def task_trajectory(fps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Right wrist (T, 3), right grip (T,), object position (T, 3) in the world, and the phase-change frames."""
    counts = [int(round(d * fps)) for d in PHASES]
    stops = [REST, REST, OBJECT, OBJECT, TARGET, TARGET, REST, REST]
    wrist = np.concatenate([_min_jerk(stops[i], stops[i + 1], counts[i]) for i in range(len(counts))])
    edges = np.cumsum([0, *counts])
    grip = np.zeros(len(wrist))
    grip[edges[2] : edges[4]] = 1.0
    grip[edges[2] : edges[3]] = np.linspace(0, 1, counts[2])
    grip[edges[4] : edges[5]] = np.linspace(1, 0, counts[4])
    obj = np.tile(OBJECT + [0, 0.05, 0.03], (len(wrist), 1))
    carried = slice(edges[3], edges[4])
    obj[carried] = wrist[carried] + [0, 0.05, 0.03]
    obj[edges[4] :] = TARGET + [0, 0.05, 0.03]
    # Atomic actions change in the middle of the grasp and release pauses.
    changes = [int((edges[2] + edges[3]) // 2), int((edges[4] + edges[5]) // 2)]
    return wrist, grip, obj, changes


def camera_poses(n: int, fps: int, motion: str, pitch: float = 0.5) -> np.ndarray:
    """world_from_camera (T, 4, 4): a head looking down at the table by ``pitch`` radians, moving or not."""
    t = np.arange(n) / fps
    angles = np.zeros((n, 3))
    position = np.zeros((n, 3))
    if motion != "static":
        angles = np.stack(
            [0.06 * np.sin(0.9 * t), 0.10 * np.sin(0.6 * t + 0.3) - 0.10 * np.sin(0.3), 0.03 * np.sin(0.5 * t)], -1
        )
    if motion == "move":
        position = np.stack([0.04 * np.sin(0.7 * t), 0.02 * np.sin(1.1 * t), 0.03 * t], -1)
    look_down = euler_to_matrix(np.array([-pitch, 0.0, 0.0]), "xyz")
    return make_transform(look_down @ euler_to_matrix(angles, "xyz"), position)


def _splats(config: SceneConfig) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(config.seed)
    n_table = config.splats * 2 // 3
    table = np.stack([rng.uniform(-1.2, 1.2, n_table), np.full(n_table, 0.33), rng.uniform(0.25, 1.6, n_table)], -1)
    n_wall = config.splats - n_table
    wall = np.stack(
        [
            rng.uniform(-1.6, 1.6, n_wall),
            rng.uniform(-1.0, 0.33, n_wall),
            np.full(n_wall, 1.6) + rng.uniform(0, 0.2, n_wall),
        ],
        -1,
    )
    colours = rng.integers(30, 255, (config.splats, 3))
    return np.concatenate([table, wall]), colours.astype(np.uint8)


def render(
    points_cam: np.ndarray,
    colours: np.ndarray,
    hands_cam: np.ndarray,
    object_cam: np.ndarray,
    k: Intrinsics,
    height: int,
    width: int,
) -> np.ndarray:
    """One frame: splats (far first), the object, then the hands."""
    import cv2

    image = np.empty((height, width, 3), np.uint8)
    image[:] = (90, 95, 100)
    z = points_cam[:, 2]
    front = z > 0.05
    order = np.argsort(-z[front])
    pts, cols, depth = points_cam[front][order], colours[front][order], z[front][order]
    u = np.round(k.fx * pts[:, 0] / depth + k.cx).astype(int)
    v = np.round(k.fy * pts[:, 1] / depth + k.cy).astype(int)
    radius = np.clip(np.round(1.5 / depth), 1, 3).astype(int)
    for r in np.unique(radius):
        sel = radius == r
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                uu, vv = u[sel] + dx, v[sel] + dy
                ok = (uu >= 0) & (uu < width) & (vv >= 0) & (vv < height)
                image[vv[ok], uu[ok]] = cols[sel][ok]
    if object_cam[2] > 0.05:
        c = (
            int(round(k.fx * object_cam[0] / object_cam[2] + k.cx)),
            int(round(k.fy * object_cam[1] / object_cam[2] + k.cy)),
        )
        cv2.circle(image, c, max(2, int(round(k.fx * 0.03 / object_cam[2]))), (220, 30, 30), -1, cv2.LINE_AA)
    for h, skin in enumerate([(225, 180, 150), (235, 190, 160)]):
        kp = hands_cam[h]
        if not np.isfinite(kp).all() or (kp[:, 2] <= 0.05).any():
            continue
        px = np.stack([k.fx * kp[:, 0] / kp[:, 2] + k.cx, k.fy * kp[:, 1] / kp[:, 2] + k.cy], -1)
        px = np.clip(px, -4 * width, 4 * width).round().astype(int)
        thick = max(2, int(round(k.fx * 0.014 / kp[0, 2])))
        cv2.fillConvexPoly(image, cv2.convexHull(px[[0, 1, 5, 9, 13, 17]].astype(np.int32)), skin, cv2.LINE_AA)
        for a, b in BONES:
            cv2.line(image, tuple(px[a]), tuple(px[b]), skin, thick, cv2.LINE_AA)
    return image


def make_task_video(path: str | Path, config: SceneConfig = SceneConfig()) -> dict[str, np.ndarray]:
    """Write ``path`` (mp4) with ``.json`` intrinsics and ``.hands.npz`` ground truth; return the truth."""
    from dexego.data.video import encode_video

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    k = Intrinsics.from_fov(np.deg2rad(config.fov_deg), config.width, config.height)
    wrist, grip, obj, changes = task_trajectory(config.fps)
    n = len(wrist)
    t = np.arange(n) / config.fps
    palm = MEAN_PALM_LENGTH * config.hand_scale
    left_wrist = LEFT_REST + np.stack([0.01 * np.sin(0.8 * t), 0.005 * np.sin(0.5 * t), 0.01 * np.sin(0.6 * t)], -1)
    world = np.zeros((n, 2, 21, 3))
    for i in range(n):
        world[i, 0] = hand_pose_points(0.2, "left", palm) + left_wrist[i]
        world[i, 1] = hand_pose_points(grip[i], "right", palm) + wrist[i]
    poses = camera_poses(n, config.fps, config.camera_motion)
    camera_from_world = invert_transform(poses)
    cam = np.einsum("tij,tahj->tahi", camera_from_world[:, :3, :3], world) + camera_from_world[:, None, None, :3, 3]
    splats, colours = _splats(config)
    frames = np.empty((n, config.height, config.width, 3), np.uint8)
    for i in range(n):
        splats_cam = splats @ camera_from_world[i, :3, :3].T + camera_from_world[i, :3, 3]
        obj_cam = camera_from_world[i, :3, :3] @ obj[i] + camera_from_world[i, :3, 3]
        frames[i] = render(splats_cam, colours, cam[i], obj_cam, k, config.height, config.width)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    encode_video(tmp, frames, config.fps)
    tmp.replace(path)
    meta = {
        "intrinsics": {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy},
        "width": config.width,
        "height": config.height,
        "fps": config.fps,
    }
    path.with_name(path.stem + ".json").write_text(json.dumps(meta))
    truth = {
        "keypoints_camera": cam.astype(np.float32),
        "hand_valid": np.ones((n, 2), bool),
        "world_from_camera": poses.astype(np.float32),
        "phase_changes": np.array(changes),
    }
    write_ground_truth(path, **truth)
    return truth
