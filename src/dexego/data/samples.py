"""Training samples: history frames + a future action chunk in the CURRENT camera frame.

For an anchor frame t of an episode at ``fps`` (any rate; times are what count):

- images: frames at t - k * history_spacing_s for k = history..0 (oldest first),
  the nearest stored frame each; times before the episode start are padded
  with the first frame and ``image_mask`` False.
- state: the hands at t, and actions: the hands at t + h / action_fps for
  h = 1..horizon, all expressed in the camera frame of t (world keypoints are
  linearly interpolated between stored frames when the times fall between
  them; a hand is valid at such a time only if both neighbours are valid).
  Steps past the episode end repeat the last frame with ``action_valid`` False.
- anchors are drawn at ``samples_per_second`` per second of footage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dexego.actions import get_space, keypoints_to_action
from dexego.data import features as F
from dexego.errors import ConfigError, InputError


@dataclass(frozen=True)
class SampleConfig:
    """How training samples are cut from episodes: history frames and their spacing, the future chunk, the
    action space, the image size, and the decoded-frame cache."""

    history: int = 5  # earlier frames besides the current one
    history_spacing_s: float = 0.2
    horizon: int = 30  # future steps in the chunk
    action_fps: float = 30.0  # rate of the chunk steps
    samples_per_second: float = 3.0
    action_space: str = "ego48"
    image_size: tuple[int, int] = (224, 224)  # (height, width)
    robot: bool = False  # also return robot_state / robot_actions
    future_frame: bool = False  # also return future_image: the frame at the chunk's last step (visual-dynamics tokens)
    plan: bool = False  # also return plan: what to do next (the episode's "plan" segments, else the instruction)
    # Decoded-frame cache of map-style sampling (dexego.data.frame_cache): "auto" = when the frames take at most
    # frame_cache_max_gib; frame_cache_dir "" = <dataset>/.cache (or the user cache dir if read-only).
    frame_cache: Literal["auto", "on", "off"] = "auto"
    frame_cache_max_gib: float = 2.0
    frame_cache_dir: str = ""

    def __post_init__(self) -> None:
        checks = {
            "history": self.history >= 0, "horizon": self.horizon >= 1, "history_spacing_s": self.history_spacing_s > 0,
            "action_fps": self.action_fps > 0, "samples_per_second": self.samples_per_second > 0,
            "image_size": len(self.image_size) == 2 and min(self.image_size) >= 1,
        }  # fmt: skip
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"sample config: {bad[0]} = {getattr(self, bad[0])!r} is out of range")

    @property
    def num_frames(self) -> int:
        return self.history + 1


def anchor_frames(length: int, fps: float, samples_per_second: float) -> np.ndarray:
    """Anchor frame indices of an episode: ``samples_per_second`` per second of footage."""
    count = max(1, int(math.floor(length / fps * samples_per_second + 1e-9)))
    times = np.arange(count) / samples_per_second
    return np.minimum(np.round(times * fps).astype(np.int64), length - 1)


def history_frames(anchor: int, fps: float, config: SampleConfig) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, mask) of the observation frames, oldest first; padded entries point at frame 0."""
    offsets = np.arange(config.history, -1, -1) * config.history_spacing_s
    index = np.round(anchor - offsets * fps).astype(np.int64)
    mask = index >= 0
    return np.where(mask, index, 0), mask


def _future_positions(anchor: int, length: int, fps: float, config: SampleConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fractional frame positions of the chunk steps and whether each lies inside the episode."""
    pos = anchor + np.arange(1, config.horizon + 1) * fps / config.action_fps
    inside = pos <= length - 1 + 1e-6
    return np.minimum(pos, length - 1), inside


def plan_at(meta: dict, frame: int, instruction: str) -> str:
    """The plan text at ``frame``: the episode metadata's ``plan`` segment ([start, end, text], e.g. the
    simulator's active subtask) covering it, else the instruction."""
    for segment in (meta.get("metadata") or {}).get("plan") or []:
        start, end, text = segment
        if start <= frame < end:
            return str(text)
    return instruction


def future_frame_index(anchor: int, length: int, fps: float, config: SampleConfig) -> int:
    """The stored frame nearest the chunk's last step (the episode's last frame past its end)."""
    return int(min(round(anchor + config.horizon * fps / config.action_fps), length - 1))


def interpolate(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of per-frame values (T, ...) at fractional frame positions."""
    lo = np.floor(positions + 1e-6).astype(np.int64)
    lo = np.clip(lo, 0, len(values) - 1)
    hi = np.minimum(lo + 1, len(values) - 1)
    w = (positions - lo).reshape((-1,) + (1,) * (values.ndim - 1))
    w = np.where(w < 1e-6, 0.0, w)
    return values[lo] * (1 - w) + values[hi] * w if np.any(w) else values[lo]


def hands_at(keypoints: np.ndarray, valid: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World keypoints (T, 2, 21, 3) and validity (T, 2) at fractional frame positions."""
    lo = np.clip(np.floor(positions + 1e-6).astype(np.int64), 0, len(valid) - 1)
    hi = np.minimum(lo + 1, len(valid) - 1)
    frac = positions - lo
    exact = frac < 1e-6
    ok = valid[lo] & (exact[:, None] | valid[hi])
    kp = np.where(exact[:, None, None, None], keypoints[lo], interpolate(keypoints, positions))
    return np.where(ok[..., None, None], kp, np.nan), ok


def _to_action(kp, pose, valid, space, where) -> np.ndarray:
    try:
        return keypoints_to_action(kp, pose, valid, space).astype(np.float32)
    except ValueError as exc:
        raise InputError(where, F.KEYPOINTS, str(exc)) from exc


def build_sample(
    columns: dict[str, np.ndarray],
    images: np.ndarray | None,
    anchor: int,
    fps: float,
    config: SampleConfig,
    stored_size: tuple[int, int] | None,
    meta: dict,
    instruction: str,
    where: str = "dataset",
) -> dict:
    """One training sample from an episode's columns and its observation frames (T_obs, H, W, 3)."""
    chw = None if images is None else np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return build_samples(columns, [chw], [anchor], fps, config, stored_size, meta, [instruction], where)[0]


def build_samples(
    columns: dict[str, np.ndarray],
    images: list[np.ndarray | None],
    anchors,
    fps: float,
    config: SampleConfig,
    stored_size: tuple[int, int] | None,
    meta: dict,
    instructions: list[str],
    where: str = "dataset",
) -> list[dict]:
    """Samples at several anchors of one episode (hands encoded in one batched call).

    ``images[i]`` are the observation frames of anchor i as (T_obs, 3, H, W) uint8, or None.
    """
    full_space = get_space(config.action_space)
    # A robot space's wrist (and hand-space) parts are encoded like its hand space; its joints come from the robot columns.
    space = get_space(full_space.hand_space or "ego48") if full_space.is_robot else full_space
    anchors = np.asarray(anchors, dtype=np.int64)
    n = len(columns[F.FRAME_INDEX])
    kp = np.asarray(columns[F.KEYPOINTS], dtype=np.float64).reshape(n, 2, 21, 3)
    valid = np.asarray(columns[F.HAND_VALID], dtype=bool).reshape(n, 2)
    pose = np.asarray(columns[F.CAMERA_POSE], dtype=np.float64).reshape(n, 4, 4)
    cameras = pose[anchors]  # (A, 4, 4)
    _require_finite(cameras.reshape(len(anchors), -1), anchors, where, F.CAMERA_POSE)
    horizon = config.horizon

    # Hands are encoded once per frame with the world as the "camera" (wrist pose in the world,
    # fingertips in the wrist frame), then moved into each anchor's camera: an exact rigid change
    # of frame that is much cheaper than re-encoding every chunk step for every anchor.
    reach = int(math.ceil(horizon * fps / config.action_fps)) + 2
    lo, hi = int(anchors.min()), min(n, int(anchors.max()) + reach)
    mano = space.name == F.MANO_SPACE
    if mano:  # stored in the world frame already: read the whole column, no encoding
        lo, hi = 0, n
        world = _mano_world(columns, valid, n, where)
    else:
        world = _to_action(kp[lo:hi], np.eye(4), valid[lo:hi], space, where)  # (m, D)
    positions = np.stack([_future_positions(int(a), n, fps, config)[0] for a in anchors])  # (A, H)
    inside = np.stack([_future_positions(int(a), n, fps, config)[1] for a in anchors])
    if np.allclose(positions, np.round(positions)):
        steps = np.round(positions).astype(np.int64)
        future_world, future_valid = world[steps - lo], valid[steps]
    elif mano:  # another frame rate: interpolate the parameters (rot6d is re-orthonormalised when decoded)
        future_valid = np.stack([hands_at(kp, valid, p)[1] for p in positions])
        future_world = np.stack([interpolate(world, p) for p in positions])
    else:  # a source at another frame rate: interpolate world keypoints, then encode
        hands = [hands_at(kp, valid, p) for p in positions]
        future_valid = np.stack([ok for _, ok in hands])
        future_kp = np.stack([h for h, _ in hands])
        future_world = _to_action(future_kp, np.eye(4), future_valid, space, where)
    camera_from_world = np.linalg.inv(cameras)
    states = world_to_camera(world[anchors - lo][:, None], camera_from_world, valid[anchors][:, None], space)[:, 0]
    actions = world_to_camera(future_world, camera_from_world, future_valid, space)
    action_valid = future_valid & inside[..., None]
    if full_space.is_robot:
        states, actions, dim_mask = _robot_space_targets(full_space, space, states, actions, columns, anchors, positions,
                                                         meta, where)  # fmt: skip

    height, width = config.image_size
    intr = np.asarray(columns[F.INTRINSICS], dtype=np.float64).reshape(n, 4)[anchors]
    _require_finite(intr, anchors, where, F.INTRINSICS)
    out = []
    for i, anchor in enumerate(anchors):
        src_h, src_w = stored_size if stored_size is not None else (2 * intr[i, 3], 2 * intr[i, 2])
        sx, sy = width / src_w, height / src_h
        intrinsics = (intr[i] * np.array([sx, sy, sx, sy])).astype(np.float32)
        fov = np.array(
            [2 * math.atan(width / (2 * intrinsics[0])), 2 * math.atan(height / (2 * intrinsics[1]))], dtype=np.float32
        )
        frames = images[i]
        if frames is None:
            frames = np.zeros((config.num_frames, 3, height, width), dtype=np.uint8)
        sample = {
            "images": frames,
            "image_mask": history_frames(int(anchor), fps, config)[1],
            "instruction": instructions[i],
            "state": states[i],
            "state_valid": valid[anchor].copy(),
            "actions": actions[i],
            "action_valid": action_valid[i],
            "fov": fov,
            "intrinsics": intrinsics,
            "embodiment": meta["embodiment"],
            "source": meta["source"],
            "episode_index": np.int64(meta["episode_index"]),
            "frame_index": np.int64(anchor),
        }
        if full_space.is_robot:
            sample["action_mask"] = dim_mask.copy()
        if config.robot:
            if F.ROBOT_STATE not in columns or F.ROBOT_ACTION not in columns:
                raise InputError(
                    where, F.ROBOT_STATE, "robot samples requested but the dataset has no robot state/action"
                )
            sample["robot_state"] = np.asarray(columns[F.ROBOT_STATE][anchor], dtype=np.float32)
            # Robot commands: the chunk starts with the command issued at t.
            robot_pos = np.minimum(anchor + np.arange(horizon) * fps / config.action_fps, n - 1)
            sample["robot_actions"] = interpolate(
                np.asarray(columns[F.ROBOT_ACTION], dtype=np.float64), robot_pos
            ).astype(np.float32)
        out.append(sample)
    return out


def _robot_space_targets(space, hand_space, states, actions, columns, anchors, positions, meta, where):
    """Hand-space states (A, Dh) and chunks (A, H, Dh) -> the robot space's (A, D), (A, H, D) and mask (D,).

    Wrist (and hand-space) parts are copied by name. Joint targets at chunk step h are the command issued one frame
    before (``action.robot``, the command at t targets t + 1), else the joint state at that time
    (``observation.robot.state``), looked up by the joint names the dataset stores with those features.
    """
    a, h = actions.shape[:2]
    out_state = np.zeros((a, space.dim), dtype=np.float32)
    out_actions = np.zeros((a, h, space.dim), dtype=np.float32)
    for side in range(2):
        for part in space.part_names:
            if part in hand_space.part_names:
                out_state[:, space.part_slice(part, side)] = states[:, hand_space.part_slice(part, side)]
                out_actions[..., space.part_slice(part, side)] = actions[..., hand_space.part_slice(part, side)]
    robot = meta.get("embodiment") != "human" and F.ROBOT_STATE in columns
    if not robot:
        if not space.human_parts:
            raise InputError(where, F.ROBOT_STATE, f"action space {space.name!r} needs robot samples (robot joint "
                             f"states); train human data in a padded space such as 'ego48+robot:{space.robot}'")  # fmt: skip
        return out_state, out_actions, space.carried(False)
    state_cols = np.asarray(columns[F.ROBOT_STATE], dtype=np.float64)
    state_names = _column_names(meta.get("robot_state_names"), state_cols.shape[-1])
    action_cols = np.asarray(columns[F.ROBOT_ACTION], dtype=np.float64) if F.ROBOT_ACTION in columns else None
    action_names = _column_names(meta.get("robot_action_names"), None if action_cols is None else action_cols.shape[-1])
    joint_index = space.joint_index()
    for dim, name, carried in zip(joint_index, space.joint_names, space.joint_carried):
        if not carried:
            continue
        if name not in state_names:
            raise InputError(where, F.ROBOT_STATE, f"no joint named {name!r} in the stored robot state (names: "
                             f"{', '.join(state_names[:8])}{', ...' if len(state_names) > 8 else ''})")  # fmt: skip
        out_state[:, dim] = state_cols[anchors, state_names.index(name)]
        if name in action_names:
            target = np.stack(
                [interpolate(action_cols[:, action_names.index(name)], np.maximum(p - 1, 0)) for p in positions]
            )
        else:
            target = np.stack([interpolate(state_cols[:, state_names.index(name)], p) for p in positions])
        out_actions[..., dim] = target
    if not (np.isfinite(out_state).all() and np.isfinite(out_actions).all()):
        raise InputError(where, F.ROBOT_STATE, "NaN or inf in the robot joints")
    return out_state, out_actions, space.carried(True)


def _column_names(names, width: int | None) -> list[str]:
    if width is None:
        return []
    if isinstance(names, dict):
        names = [x for v in names.values() for x in (v if isinstance(v, list) else [v])]
    names = [str(x) for x in names] if isinstance(names, list) else []
    return names if len(names) == width else []


_NO_MANO = (
    "action_space 'mano' needs MANO hand parameters and this dataset has none: run "
    "`dexego data fit-mano DATASET --mano MANO_DIR --out NEW_DATASET` (or convert a source that ships MANO)"
)


def _mano_world(columns: dict[str, np.ndarray], valid: np.ndarray, n: int, where) -> np.ndarray:
    """The stored world-frame MANO hands (n, 48), zeros for invalid hands (the ``mano`` space encoded in the world)."""
    if F.HAND_MANO not in columns:
        raise InputError(where, F.HAND_MANO, _NO_MANO)
    mano = np.asarray(columns[F.HAND_MANO], dtype=np.float64).reshape(n, 2, -1)
    bad = valid & ~np.isfinite(mano).all(axis=-1)
    if bad.any():
        raise InputError(
            where, F.HAND_MANO, f"NaN or inf MANO parameters of a valid hand at frame {int(np.argwhere(bad)[0][0])}"
        )
    return np.where(valid[..., None], mano, 0.0).reshape(n, -1)


def require_action_space(features: dict, action_space: str, where) -> None:
    """Fail early (naming the dataset) when the dataset cannot give ``action_space``."""
    space = get_space(action_space)
    if space.is_robot and not space.human_parts and F.ROBOT_STATE not in features:
        raise InputError(
            where, F.ROBOT_STATE, f"action space {space.name!r} needs robot joint states; the dataset has none"
        )
    if (space.hand_space or space.name) == F.MANO_SPACE and F.HAND_MANO not in features:
        raise InputError(where, F.HAND_MANO, _NO_MANO)


def _require_finite(values: np.ndarray, anchors: np.ndarray, where, field: str) -> None:
    """Per-anchor values (A, K) must be finite: a NaN camera would silently turn the whole sample into NaN."""
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise InputError(where, field, f"NaN or inf at frame {int(anchors[np.argmax(bad)])}")


def world_to_camera(actions: np.ndarray, camera_from_world: np.ndarray, valid: np.ndarray, space) -> np.ndarray:
    """Actions encoded in the world frame (A, K, D) -> in each anchor's camera frame (A, 4, 4 given).

    Wrist positions and the two rot6d columns rotate (positions also translate);
    parts in the wrist frame are unchanged; invalid hands stay zeros.
    """
    space = get_space(space)
    out = actions.astype(np.float64).copy()
    rot = camera_from_world[:, None, :3, :3]  # (A, 1, 3, 3)
    shift = camera_from_world[:, None, :3, 3]
    for hand in range(2):
        pos = space.part_slice("wrist_pos", hand)
        rot6d = space.part_slice("wrist_rot6d", hand)
        out[..., pos] = np.einsum("akij,akj->aki", np.broadcast_to(rot, out.shape[:2] + (3, 3)), out[..., pos]) + shift
        for col in (slice(rot6d.start, rot6d.start + 3), slice(rot6d.start + 3, rot6d.stop)):
            out[..., col] = np.einsum("akij,akj->aki", np.broadcast_to(rot, out.shape[:2] + (3, 3)), out[..., col])
        out[..., space.hand_slice(hand)] *= valid[..., hand : hand + 1]
    return out.astype(np.float32)


def require_dexego(features: dict, where) -> None:
    for name in (F.KEYPOINTS, F.HAND_VALID, F.CAMERA_POSE, F.INTRINSICS):
        if name not in features:
            raise InputError(where, name, "training samples need this dexego feature; the dataset lacks it")
