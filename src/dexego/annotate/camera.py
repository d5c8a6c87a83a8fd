"""The camera of a raw video: intrinsics, whether it moves, and its per-frame pose.

- Intrinsics from the video's metadata (``clip.json``) or a field-of-view prior.
- Static or moving: the median optical flow of background features (hands
  masked out) between frames a few apart.
- Motion by visual odometry on background features (OpenCV). Per frame pair
  a pure rotation (bearing vectors aligned by Kabsch in RANSAC) is preferred
  when it explains the flow; otherwise the essential matrix gives rotation
  and a translation *direction*. Monocular video has no metric scale: by
  default translation is not estimated (rotation-only poses, flagged in the
  episode metadata); ``translation="scene_depth"`` scales it so that the
  median triangulated background depth equals a prior (metres).
- Or poses from a file (e.g. SLAM output), see :mod:`dexego.annotate.sidecar`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexego.annotate.estimators.base import HandDetection
from dexego.errors import ConfigError
from dexego.geometry import Intrinsics


@dataclass(frozen=True)
class CameraConfig:
    mode: str = "auto"  # "auto" (flow decides static/vo), "static", "vo", "poses"
    fov_deg: float = 70.0  # horizontal field-of-view prior when the video has no intrinsics
    work_width: int = 320  # flow and odometry run on frames downscaled to this width
    flow_stride: int = 5  # frames between the two images compared by the static test
    static_flow: float = (
        0.0015  # median background flow per stride, as a fraction of the width, below which the camera is static
    )
    max_features: int = 150
    vo_stride: int = 10  # frames between odometry keyframes
    rotation_only_px: float = (
        0.5  # a pair is a pure rotation if that model's median residual is below this (work pixels)
    )
    translation: str = "none"  # "none" or "scene_depth"
    scene_depth: float = 1.0  # metres; median background depth when translation="scene_depth"
    min_features: int = 12

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "static", "vo", "poses"):
            raise ConfigError(f"camera.mode must be auto, static, vo or poses, got {self.mode!r}")
        if self.translation not in ("none", "scene_depth"):
            raise ConfigError(f"camera.translation must be none or scene_depth, got {self.translation!r}")


@dataclass
class CameraTrack:
    world_from_camera: np.ndarray  # (T, 4, 4), world = first camera frame unless poses were given
    confidence: np.ndarray  # (T,) in [0, 1]
    mode: str  # "static", "vo" or "poses"
    translation: str  # "none" (rotation only), "scene_depth", "zero" (static) or "given"
    background_flow: float  # median flow per stride / width (NaN if not measured)


def intrinsics_for(
    meta: dict, width: int, height: int, fov_deg: float, source_size: tuple[int, int] | None = None
) -> tuple[Intrinsics, str]:
    """Intrinsics at (width, height) from metadata (given at ``source_size`` = (w, h)) or a FOV prior."""
    if "intrinsics" in meta:
        k = meta["intrinsics"]
        sw, sh = source_size or (width, height)
        return Intrinsics(k["fx"], k["fy"], k["cx"], k["cy"], sw, sh).scaled(width, height), "metadata"
    fov = float(meta.get("fov_deg", fov_deg))
    return Intrinsics.from_fov(np.deg2rad(fov), width, height), "fov_deg" if "fov_deg" in meta else "fov_prior"


def hand_mask(
    shape: tuple[int, int], detections: list[HandDetection], scale: float, margin: float = 0.35
) -> np.ndarray:
    """uint8 mask (255 = background) with every hand's keypoint box (grown by ``margin``) blanked out."""
    mask = np.full(shape, 255, dtype=np.uint8)
    for det in detections:
        pts = det.keypoints_2d * scale
        lo, hi = pts.min(0), pts.max(0)
        grow = (hi - lo) * margin + 4
        x0, y0 = np.floor(lo - grow).astype(int)
        x1, y1 = np.ceil(hi + grow).astype(int)
        mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 0
    return mask


class _Tracker:
    """Grey frames at the working size, hand masks, and feature tracks between two frames."""

    def __init__(self, frames: np.ndarray, detections: list[list[HandDetection]] | None, config: CameraConfig):
        import cv2

        self.cv2, self.config = cv2, config
        height, width = frames.shape[1:3]
        self.scale = min(1.0, config.work_width / width)
        self.size = (max(8, int(round(width * self.scale))), max(8, int(round(height * self.scale))))
        self.grey = [
            cv2.cvtColor(cv2.resize(f, self.size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY) for f in frames
        ]
        dets = detections or [[] for _ in frames]
        self.masks = [hand_mask(self.grey[0].shape, d, self.scale) for d in dets]

    def track(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Matched background points (N, 2) in frames a and b (working pixels), forward-backward checked."""
        cv2, cfg = self.cv2, self.config
        p0 = cv2.goodFeaturesToTrack(self.grey[a], cfg.max_features, 0.01, 7, mask=self.masks[a])
        if p0 is None or len(p0) < cfg.min_features:
            return np.zeros((0, 2)), np.zeros((0, 2))
        p1, ok1, _ = cv2.calcOpticalFlowPyrLK(self.grey[a], self.grey[b], p0, None, winSize=(15, 15), maxLevel=2)
        p0b, ok2, _ = cv2.calcOpticalFlowPyrLK(self.grey[b], self.grey[a], p1, None, winSize=(15, 15), maxLevel=2)
        good = (ok1[:, 0] == 1) & (ok2[:, 0] == 1) & (np.linalg.norm(p0 - p0b, axis=-1)[:, 0] < 0.5)
        p0, p1 = p0[good, 0], p1[good, 0]
        h, w = self.grey[b].shape
        inside = (p1[:, 0] >= 0) & (p1[:, 0] < w) & (p1[:, 1] >= 0) & (p1[:, 1] < h)
        inside &= self.masks[b][np.clip(p1[:, 1].astype(int), 0, h - 1), np.clip(p1[:, 0].astype(int), 0, w - 1)] > 0
        return p0[inside], p1[inside]


def background_flow(tracker: _Tracker, samples: int = 24) -> float:
    """Median background feature displacement over ``flow_stride`` frames, as a fraction of the width."""
    n, stride = len(tracker.grey), tracker.config.flow_stride
    if n <= 1:
        return 0.0
    stride = min(stride, n - 1)
    starts = np.unique(np.linspace(0, n - 1 - stride, min(samples, n - stride)).round().astype(int))
    flows = []
    for a in starts:
        p0, p1 = tracker.track(int(a), int(a) + stride)
        if len(p0):
            flows.append(float(np.median(np.linalg.norm(p1 - p0, axis=-1))))
    return float(np.median(flows)) / tracker.size[0] if flows else float("nan")


def _bearings(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    rays = np.stack([(points[:, 0] - k[0, 2]) / k[0, 0], (points[:, 1] - k[1, 2]) / k[1, 1], np.ones(len(points))], -1)
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation(s) R minimising |R a - b| over rows; a, b (..., N, 3)."""
    u, _, vt = np.linalg.svd(np.swapaxes(b, -1, -2) @ a)
    fix = np.ones(u.shape[:-2] + (3,))
    fix[..., 2] = np.sign(np.linalg.det(u @ vt))
    return (u * fix[..., None, :]) @ vt


def rotation_ransac(
    p0: np.ndarray, p1: np.ndarray, k: np.ndarray, threshold_px: float, iterations: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, float]:
    """Pure-rotation fit (b1 = R b0): rotation, inlier mask, median residual (pixels)."""
    b0, b1 = _bearings(p0, k), _bearings(p1, k)
    rng = np.random.default_rng(seed)
    tol = threshold_px / k[0, 0]
    picks = np.stack([rng.choice(len(p0), 2, replace=False) for _ in range(iterations)])
    hypotheses = _kabsch(b0[picks], b1[picks])  # (iterations, 3, 3)
    inliers = np.linalg.norm(np.einsum("kij,nj->kni", hypotheses, b0) - b1, axis=-1) < 2 * tol
    best = inliers[int(np.argmax(inliers.sum(1)))]
    r = _kabsch(b0[best], b1[best]) if best.sum() >= 3 else np.eye(3)
    residual = np.linalg.norm(b0 @ r.T - b1, axis=-1) * k[0, 0]
    return r, best, float(np.median(residual))


def relative_pose(
    p0: np.ndarray, p1: np.ndarray, k: np.ndarray, config: CameraConfig
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
    """camera1_from_camera0 rotation, unit translation (zeros for a pure rotation), inlier ratio, inlier depths in camera 0."""
    import cv2

    rotation, inliers, residual = rotation_ransac(p0, p1, k, config.rotation_only_px)
    if residual < config.rotation_only_px or len(p0) < config.min_features:
        return rotation, np.zeros(3), float(inliers.mean()) if len(p0) else 0.0, None
    e, mask = cv2.findEssentialMat(p0, p1, k, method=cv2.RANSAC, prob=0.999, threshold=1.0)
    if e is None or e.shape != (3, 3):
        return rotation, np.zeros(3), float(inliers.mean()), None
    count, r, t, mask = cv2.recoverPose(e, p0, p1, k, mask=mask)
    good = mask.ravel() > 0
    if count < config.min_features:
        return rotation, np.zeros(3), float(inliers.mean()), None
    # Depths of the inliers in camera 0 for a unit baseline (used to fix the scale by a scene-depth prior).
    p_0 = k @ np.hstack([np.eye(3), np.zeros((3, 1))])
    p_1 = k @ np.hstack([r, t])
    x = cv2.triangulatePoints(p_0, p_1, p0[good].T, p1[good].T)
    depth = x[2] / x[3]
    return r, t.ravel(), float(good.mean()), depth[np.isfinite(depth) & (depth > 0)]


def visual_odometry(tracker: _Tracker, intrinsics: Intrinsics, config: CameraConfig) -> tuple[np.ndarray, np.ndarray]:
    """(T, 4, 4) world_from_camera (world = first camera frame) and confidence (T,).

    Motion is estimated between keyframes ``vo_stride`` frames apart (enough
    parallax for a translation direction, a tenth of the work) and chained;
    frames between keyframes are interpolated (slerp, linear).
    """
    from scipy.spatial.transform import Rotation, Slerp

    k = intrinsics.scaled(*tracker.size).matrix
    n = len(tracker.grey)
    keys = list(range(0, n, config.vo_stride))
    if keys[-1] != n - 1:
        keys.append(n - 1)
    key_poses = [np.eye(4)]
    key_conf = [1.0]
    for a, b in zip(keys[:-1], keys[1:]):
        p0, p1 = tracker.track(a, b)
        step = np.eye(4)  # camera_b_from_camera_a
        ratio = 0.0  # no background to track: assume no motion, with no confidence
        if len(p0) >= config.min_features:
            rotation, direction, ratio, depths = relative_pose(p0, p1, k, config)
            step[:3, :3] = rotation
            if config.translation == "scene_depth" and depths is not None and len(depths):
                step[:3, 3] = direction * config.scene_depth / float(np.median(depths))
        key_poses.append(key_poses[-1] @ np.linalg.inv(step))
        key_conf.append(ratio)
    key_poses = np.stack(key_poses)
    if len(keys) == 1:
        return key_poses, np.ones(1)
    times = np.arange(n)
    rotations = Slerp(keys, Rotation.from_matrix(key_poses[:, :3, :3]))(times).as_matrix()
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, :3, :3] = rotations
    for axis in range(3):
        poses[:, axis, 3] = np.interp(times, keys, key_poses[:, axis, 3])
    # A frame's confidence is that of the keyframe step it lies in.
    confidence = np.asarray(key_conf)[np.clip(np.searchsorted(keys, times, side="left"), 0, len(keys) - 1)]
    confidence[0] = 1.0
    return poses, confidence


def estimate_camera(
    frames: np.ndarray,
    detections: list[list[HandDetection]] | None,
    intrinsics: Intrinsics,
    config: CameraConfig,
    poses: np.ndarray | None = None,
) -> CameraTrack:
    """The camera track of a video (``poses`` (T, 4, 4) when mode is "poses")."""
    n = len(frames)
    if config.mode == "poses":
        if poses is None:
            raise ConfigError("camera mode 'poses' needs a poses file")
        return CameraTrack(np.asarray(poses, dtype=np.float64), np.ones(n), "poses", "given", float("nan"))
    if config.mode == "static":
        return CameraTrack(np.tile(np.eye(4), (n, 1, 1)), np.ones(n), "static", "zero", float("nan"))
    tracker = _Tracker(frames, detections, config)
    flow = background_flow(tracker)
    if config.mode == "auto" and np.isfinite(flow) and flow < config.static_flow:
        return CameraTrack(np.tile(np.eye(4), (n, 1, 1)), np.ones(n), "static", "zero", flow)
    world_from_camera, confidence = visual_odometry(tracker, intrinsics, config)
    return CameraTrack(world_from_camera, confidence, "vo", config.translation, flow)
