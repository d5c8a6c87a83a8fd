"""Shared ground truth for the source-converter tests: a scene with known hands, and the checks on the output.

A scene is given in dexego's conventions (OpenCV camera, metres, world_from_camera);
each test writes it out in its dataset's native layout and conventions, converts it,
and checks the dataset against the scene: ego48 within 1e-4, camera-frame keypoints,
left/right, and the wrists' pixels in the stored video (red marker = left wrist,
green = right wrist, drawn at the ground-truth projection).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from dexego.actions import keypoints_to_action
from dexego.geometry import Intrinsics, apply_transform, euler_to_matrix, invert_transform, make_transform, project

WIDTH, HEIGHT = 64, 48
INTRINSICS = Intrinsics(40.0, 42.0, 31.5, 23.5, WIDTH, HEIGHT)
LEFT_COLOUR, RIGHT_COLOUR = (255, 0, 0), (0, 255, 0)


def canonical_right_hand() -> np.ndarray:
    """21 keypoints of a right hand in its own frame: wrist at 0, fingers along +x, palm normal roughly +z."""
    dirs = np.array([[0.6, 0.8, 0.0], [1.0, 0.25, 0.0], [1.0, 0.0, 0.0], [1.0, -0.2, 0.0], [0.9, -0.4, 0.0]])
    pts = np.zeros((21, 3))
    for f, d in enumerate(dirs / np.linalg.norm(dirs, axis=1, keepdims=True)):
        for j in range(4):
            pts[1 + 4 * f + j] = d * ((0.02 if f == 0 else 0.09) + 0.025 * j)
    pts[:, 2] += np.linspace(0.0, 0.01, 21)
    return pts


@dataclass
class Scene:
    keypoints_world: np.ndarray  # (T, 2, 21, 3)
    valid: np.ndarray  # (T, 2)
    world_from_camera: np.ndarray  # (T, 4, 4), OpenCV camera axes
    intrinsics: Intrinsics = INTRINSICS

    @property
    def length(self) -> int:
        return len(self.valid)

    def keypoints_camera(self) -> np.ndarray:
        return apply_transform(invert_transform(self.world_from_camera)[:, None], self.keypoints_world)

    def wrist_pixels(self) -> np.ndarray:
        """(T, 2, 2) ground-truth wrist pixels."""
        return project(self.keypoints_camera()[:, :, 0], self.intrinsics)

    def ego48(self) -> np.ndarray:
        return keypoints_to_action(self.keypoints_world, self.world_from_camera, self.valid, "ego48")

    def frames(self) -> np.ndarray:
        """(T, H, W, 3) black frames with a 4x4 red (left) / green (right) block on each valid wrist."""
        frames = np.zeros((self.length, HEIGHT, WIDTH, 3), dtype=np.uint8)
        for t, pixels in enumerate(self.wrist_pixels()):
            for h, colour in enumerate((LEFT_COLOUR, RIGHT_COLOUR)):
                if self.valid[t, h]:
                    u, v = pixels[h]
                    # the 4x4 block [x0, x0+4) has its centre at x0 + 1.5
                    x0, y0 = int(round(u - 1.5)), int(round(v - 1.5))
                    frames[t, max(y0, 0) : y0 + 4, max(x0, 0) : x0 + 4] = colour
        return frames


def make_scene(length: int = 6, seed: int = 0, valid: np.ndarray | None = None, hand_scale: float = 1.0) -> Scene:
    """Both hands ~0.45 m in front of a moving, turning camera; the hands move and rotate."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    cam_rot = euler_to_matrix(np.stack([0.05 * t, 0.3 + 0.04 * t, 0.02 * t], -1), "xyz")
    cam_pos = np.stack([0.5 + 0.02 * t, -0.1 + 0.01 * t, 1.2 - 0.015 * t], -1)
    world_from_camera = make_transform(cam_rot, cam_pos)
    right = canonical_right_hand() * hand_scale
    left = right * np.array([1.0, -1.0, 1.0])  # mirror image: a left hand
    kp_cam = np.zeros((length, 2, 21, 3))
    for h, (hand, x) in enumerate(((left, -0.11), (right, 0.11))):
        angles = np.stack([0.2 * np.sin(0.5 * t + h), 0.1 * t + rng.uniform(-0.3, 0.3), -np.pi / 2 + 0.15 * t], -1)
        rot = euler_to_matrix(angles, "xyz")
        wrist = np.stack([x + 0.01 * t, 0.06 - 0.008 * t, 0.45 + 0.01 * np.cos(t)], -1)
        kp_cam[:, h] = np.einsum("tij,kj->tki", rot, hand) + wrist[:, None]
    kp_world = apply_transform(world_from_camera[:, None], kp_cam)
    valid = np.ones((length, 2), dtype=bool) if valid is None else valid
    return Scene(kp_world, valid, world_from_camera)


def write_mp4(path: Path, frames: np.ndarray, fps: int = 30) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "10", "bf": "0"}
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        out.mux(stream.encode())


def read_episode(root: Path, episode: int = 0) -> dict:
    """Columns and decoded frames of one episode of a converted dataset."""
    from dexego.data.reader import Dataset

    ds = Dataset(root)
    cols = ds.episode_columns(episode)
    n = len(cols["frame_index"])
    frames = ds.frames(episode, np.arange(n)) if ds.video_keys else None
    return {"columns": cols, "frames": frames, "meta": ds.episode_meta(episode), "num_episodes": ds.num_episodes}


def marker_centre(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray | None:
    """Centroid of the pixels closest to ``colour`` (None when there is no such blob)."""
    img = image.astype(np.float64)
    score = img @ (2 * np.array(colour, dtype=np.float64) / 255 - 1)
    mask = score > 0.5 * score.max() if score.max() > 40 else None
    if mask is None:
        return None
    v, u = np.nonzero(mask)
    w = score[v, u]
    return np.array([np.sum(u * w) / w.sum(), np.sum(v * w) / w.sum()])


def check_converted(
    root: Path, scene: Scene, episode: int = 0, frames: slice = slice(None), pixel_tol: float = 1.0
) -> dict:
    """Assert the converted episode matches ``scene`` (frames ``frames`` of it); returns what was read."""
    from dexego.data.validate import validate_dataset

    problems = validate_dataset(root)
    assert not problems, [str(p) for p in problems]
    got = read_episode(root, episode)
    cols = got["columns"]
    kp_world = scene.keypoints_world[frames]
    pose = scene.world_from_camera[frames]
    valid = scene.valid[frames]
    n = len(valid)
    assert len(cols["frame_index"]) == n
    np.testing.assert_array_equal(cols["observation.hands.valid"], valid)
    expected = keypoints_to_action(kp_world, pose, valid, "ego48")
    np.testing.assert_allclose(cols["observation.state"], expected, atol=1e-4)
    # camera-frame keypoints (the world frame itself is the dataset's choice)
    stored_pose = cols["observation.camera.world_from_camera"].reshape(n, 4, 4).astype(np.float64)
    stored_kp = cols["observation.hands.keypoints_world"].reshape(n, 2, 21, 3).astype(np.float64)
    stored_cam = apply_transform(invert_transform(stored_pose)[:, None], stored_kp)
    truth_cam = apply_transform(invert_transform(pose)[:, None], kp_world)
    np.testing.assert_allclose(stored_cam[valid], truth_cam[valid], atol=1e-4)
    intr = cols["observation.camera.intrinsics"]
    if got["frames"] is not None:
        for t in range(n):
            for h, colour in enumerate((LEFT_COLOUR, RIGHT_COLOUR)):
                if not valid[t, h]:
                    continue
                pixel = project(stored_cam[t, h, 0], intr[t].astype(np.float64))
                found = marker_centre(got["frames"][t], colour)
                assert found is not None, f"no {'left right'.split()[h]} wrist marker in frame {t}"
                assert np.linalg.norm(found - pixel) <= pixel_tol, (t, h, found, pixel)
    return got
