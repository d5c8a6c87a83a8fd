"""HOT3D full sequences (Aria): a recording folder as the HOT3D release lays it out.

Files read (per recording, e.g. ``P0003_c701bd11/``):

- ``headset_trajectory.csv``: ``timestamp[ns]`` (Aria time code), ``t_wo_x[m]..z[m]`` and
  ``q_wo_w,x,y,z``: world_from_device (the Aria device frame of MPS).
- ``umetrack_hand_pose_trajectory.jsonl``: per line ``timestamp_ns`` and ``hand_poses``
  {"0" left | "1" right: {"wrist_xform": {"t_xyz", "q_wxyz"} world_from_wrist,
  "joint_angles" (22)}}, with ``umetrack_hand_user_profile.json`` (the wearer's hand:
  :mod:`dexego.hands.umetrack`). Needs no MANO.
- ``mano_hand_pose_trajectory.jsonl``: the same hands as MANO: "pose" (15 PCA),
  "wrist_xform" (rotation = global orientation, translation = MANO's ``transl``, so the
  wrist joint lies at ``transl + J0(betas)``) and "betas" (10); read with ``--mano-dir``
  (``flat_hand_mean=False``, 15 PCA, HOT3D's left-shapedirs fix, as the clips).
- ``mps/slam/online_calibration.jsonl``: per line ``tracking_timestamp_us`` (device time)
  and ``CameraCalibrations``; the RGB camera (``Label`` "camera-rgb") has
  ``T_Device_Camera`` and a ``FisheyeRadTanThinPrism`` projection of 15 parameters
  f, cx, cy, k0..k5, p0, p1, s0..s3 (Aria's FISHEYE624 with one focal length).
- ``mps/slam/closed_loop_trajectory.csv``: device-time poses; HOT3D's headset trajectory is
  this trajectory (its 1 kHz sample nearest each annotation time code), so exact pose
  matches give the offset from time code to device time (to a millisecond), used to pick
  each frame's online calibration.
- ``box2d_hands.csv`` / masks name the stream of each annotation timestamp: annotations
  are given for RGB (``214-1``) and SLAM camera timestamps alike; the episode keeps the
  RGB ones (30 fps).
- ``recording.vrs`` (optional): the RGB video, read with ``projectaria-tools``
  (``pip install 'dexego[aria]'``); frames are resampled onto a pinhole camera with the
  calibration's f, cx, cy. Without it the episode has hands and cameras only, and its
  metadata says so (``"video": "none"``).

The camera stays described exactly in the metadata (``camera_model``: the online
calibration's 16 FISHEYE624 parameters per frame summarised by their median, the image
size), since pinhole intrinsics alone do not describe an unrectified fisheye.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from dexego.actions.convert import mano_to_action
from dexego.data import Episode
from dexego.errors import InputError
from dexego.geometry import axis_angle_to_matrix, make_transform, matrix_to_axis_angle, quat_to_matrix
from dexego.hands.umetrack import load_umetrack_profile, umetrack_keypoints
from dexego.sources.base import (
    SequenceRef,
    SkipSequence,
    SourceOptions,
    check_array,
    placeholder_instructions,
    rigid_from_rt,
    truncate,
)

RGB_STREAM = "214-1"
RGB_LABEL = "camera-rgb"
SIDES = {"0": "left", "1": "right"}
# Aria RGB image sizes; the online calibration does not store one, its principal point picks the nearest centre
ARIA_RGB_SIZES = (704, 1408, 2880)
MARKER_FILES = ("headset_trajectory.csv", "metadata.json")


def is_sequence_dir(path: Path) -> bool:
    return all((path / f).is_file() for f in MARKER_FILES) and any(
        (path / f).is_file() for f in ("umetrack_hand_pose_trajectory.jsonl", "mano_hand_pose_trajectory.jsonl")
    )


def find_sequence_dirs(root: Path) -> list[SequenceRef]:
    dirs = [p.parent for p in sorted(Path(root).rglob("headset_trajectory.csv")) if is_sequence_dir(p.parent)]
    return [SequenceRef(d.name, d, {"layout": "sequence"}) for d in dirs]


def _rows(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"unreadable CSV: {exc}") from None


def _number(path: Path, row: int, row_dict: dict, key: str, kind=float):
    try:
        return kind(row_dict[key])
    except KeyError:
        raise InputError(path, key, "missing column") from None
    except (TypeError, ValueError):
        raise InputError(path, f"row {row}: {key}", f"not a number: {row_dict.get(key)!r}") from None


def _pose(path: Path, field: str, q_wxyz, t_xyz) -> np.ndarray:
    q = check_array(path, f"{field}.q_wxyz", q_wxyz, (4,))
    t = check_array(path, f"{field}.t_xyz", t_xyz, (3,))
    norm = np.linalg.norm(q)
    if not (np.isfinite(q).all() and np.isfinite(t).all()) or abs(norm - 1) > 1e-2:
        raise InputError(path, field, f"expected a finite unit quaternion and translation, got |q| = {norm:.4f}")
    return rigid_from_rt(quat_to_matrix(q / norm), t)


def read_headset(path: Path) -> dict[int, np.ndarray]:
    """time code (ns) -> world_from_device (4, 4)."""
    out = {}
    for i, r in enumerate(_rows(path)):
        ts = _number(path, i, r, "timestamp[ns]", int)
        q = [_number(path, i, r, f"q_wo_{c}") for c in "wxyz"]
        t = [_number(path, i, r, f"t_wo_{c}[m]") for c in "xyz"]
        out[ts] = _pose(path, f"row {i}", q, t)
    if not out:
        raise InputError(path, None, "no poses")
    return out


def read_hand_trajectory(path: Path) -> dict[int, dict]:
    """time code (ns) -> {"0"|"1": hand dict} from a ``*_hand_pose_trajectory.jsonl``."""
    out = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            out[int(record["timestamp_ns"])] = {k: v for k, v in record["hand_poses"].items() if k in SIDES}
        except json.JSONDecodeError as exc:
            raise InputError(path, f"line {i + 1}", f"invalid JSON: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError(path, f"line {i + 1}", "expected {timestamp_ns, hand_poses: {...}}") from None
    return out


def rgb_timestamps(seq: Path, candidates: list[int]) -> list[int]:
    """The annotation time codes of RGB frames (box2d_hands.csv or masks say which stream each is)."""
    for name in ("box2d_hands.csv", "masks/mask_hand_pose_available.csv", "masks/mask_headset_pose_available.csv"):
        path = seq / name
        if path.is_file():
            rows = _rows(path)
            if rows and "stream_id" in rows[0]:
                rgb = {
                    _number(path, i, r, "timestamp[ns]", int)
                    for i, r in enumerate(rows)
                    if r["stream_id"] == RGB_STREAM
                }
                return [t for t in candidates if t in rgb]
    return candidates  # no stream table: every annotation timestamp is taken as an RGB frame


def read_online_rgb_calibration(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device times (ns), FISHEYE624 parameters (M, 16: fx, fy, cx, cy, 12) and device_from_camera (M, 4, 4)."""
    times, params, extrinsics = [], [], []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        field = f"line {i + 1}"
        try:
            record = json.loads(line)
            cams = [c for c in record["CameraCalibrations"] if c.get("Label") == RGB_LABEL]
            ts = int(record["tracking_timestamp_us"]) * 1000
        except json.JSONDecodeError as exc:
            raise InputError(path, field, f"invalid JSON: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError(path, field, "expected tracking_timestamp_us and CameraCalibrations") from None
        if not cams:
            continue
        cam = cams[0]
        try:
            name, p = cam["Projection"]["Name"], cam["Projection"]["Params"]
            ext = cam["T_Device_Camera"]
            q = [ext["UnitQuaternion"][0], *ext["UnitQuaternion"][1]]
            t = ext["Translation"]
        except (KeyError, TypeError, IndexError):
            raise InputError(
                path, f"{field}: {RGB_LABEL}", "expected Projection {Name, Params} and T_Device_Camera"
            ) from None
        if name != "FisheyeRadTanThinPrism":
            raise InputError(path, f"{field}: {RGB_LABEL}.Projection.Name", f"unsupported camera model {name!r}")
        p = check_array(path, f"{field}: {RGB_LABEL}.Projection.Params", p, (15,))
        times.append(ts)
        params.append(np.concatenate([[p[0], p[0]], p[1:]]))
        extrinsics.append(_pose(path, f"{field}: {RGB_LABEL}.T_Device_Camera", q, t))
    if not times:
        raise InputError(path, None, f"no {RGB_LABEL} calibration")
    order = np.argsort(times)
    return np.asarray(times)[order], np.asarray(params)[order], np.asarray(extrinsics)[order]


def timecode_to_device_offset(closed_loop: Path, headset: dict[int, np.ndarray]) -> int | None:
    """device time - time code (ns), from the closed-loop poses that equal headset poses; None if none do."""
    if not closed_loop.is_file():
        return None
    by_translation = {}
    for i, r in enumerate(_rows(closed_loop)):
        key = tuple(round(_number(closed_loop, i, r, f"t{c}_world_device"), 9) for c in "xyz")
        by_translation[key] = _number(closed_loop, i, r, "tracking_timestamp_us", int) * 1000
    offsets = [by_translation[k] - ts for ts, pose in headset.items()
               if (k := tuple(round(float(v), 9) for v in pose[:3, 3])) in by_translation]  # fmt: skip
    if not offsets:
        return None
    offsets = np.asarray(offsets)
    median = int(np.median(offsets))
    # the headset pose is the closed-loop sample nearest its time code, and the closed loop is sampled at
    # 1 kHz: the matches must agree on one offset to within a sample
    return median if np.abs(offsets - median).max() <= 1_000_000 else None


def image_size_from_principal_point(cx: float, cy: float) -> tuple[int, int]:
    size = min(ARIA_RGB_SIZES, key=lambda s: abs(s / 2 - cx) + abs(s / 2 - cy))
    return size, size


def _hand_pose(path: Path, t: int, key: str, hand: dict) -> np.ndarray:
    xf = hand.get("wrist_xform") if isinstance(hand, dict) else None
    if not isinstance(xf, dict):
        raise InputError(path, f"{t}.{key}.wrist_xform", "missing")
    return _pose(path, f"{t}.{key}.wrist_xform", xf.get("q_wxyz"), xf.get("t_xyz"))


def umetrack_hands(seq: Path, stamps: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2, 21, 3) keypoints (NaN where absent) and (n, 2) valid, from UmeTrack and the user profile."""
    path = seq / "umetrack_hand_pose_trajectory.jsonl"
    traj = read_hand_trajectory(path)
    profile = load_umetrack_profile(seq / "umetrack_hand_user_profile.json")
    kp = np.full((len(stamps), 2, 21, 3), np.nan)
    for h, (key, side) in enumerate(SIDES.items()):
        rows = [(i, traj.get(t, {}).get(key)) for i, t in enumerate(stamps)]
        rows = [(i, hand) for i, hand in rows if hand]
        if not rows:
            continue
        idx = [i for i, _ in rows]
        wrists = np.stack([_hand_pose(path, stamps[i], key, hand) for i, hand in rows])
        angles = np.stack(
            [check_array(path, f"{stamps[i]}.{key}.joint_angles", hand.get("joint_angles"), (22,)) for i, hand in rows]
        )
        kp[idx, h] = umetrack_keypoints(profile, angles, wrists, side)
    return kp, np.isfinite(kp).all(axis=(-1, -2))


def mano_hands(seq: Path, stamps: list[int], mano_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 2, 21, 3) keypoints, (n, 2) valid and (n, 2, 24) observation.hands.mano from the MANO trajectory."""
    from dexego.sources.mano_hands import load_mano_pair, mano_keypoints

    models = load_mano_pair(mano_dir, "hot3d", flat_hand_mean=False, num_pca=15, fix_left_shapedirs=True)
    path = seq / "mano_hand_pose_trajectory.jsonl"
    traj = read_hand_trajectory(path)
    n = len(stamps)
    kp, orient, pca = np.full((n, 2, 21, 3), np.nan), np.zeros((n, 2, 3)), np.zeros((n, 2, 15))
    for h, (key, side) in enumerate(SIDES.items()):
        for i, t in enumerate(stamps):
            hand = traj.get(t, {}).get(key)
            if not hand:
                continue
            pose = _hand_pose(path, t, key, hand)
            thetas = check_array(path, f"{t}.{key}.pose", hand.get("pose"), (15,))
            betas = check_array(path, f"{t}.{key}.betas", hand.get("betas"), (10,))
            orient[i, h], pca[i, h] = matrix_to_axis_angle(pose[:3, :3]), thetas
            kp[i, h] = mano_keypoints(models[side], pca=thetas[None], global_orient=orient[i, h][None],
                                      betas=betas[None], transl=pose[None, :3, 3])[0]  # fmt: skip
    valid = np.isfinite(kp).all(axis=(-1, -2))
    root = make_transform(axis_angle_to_matrix(orient), np.nan_to_num(kp[:, :, 0]))
    hand_mano = mano_to_action(root, pca, valid).reshape(n, 2, -1)
    hand_mano[~valid] = np.nan
    return kp, valid, hand_mano


def cameras(
    seq: Path, stamps: list[int], headset: dict[int, np.ndarray], to_device_ns
) -> tuple[np.ndarray, np.ndarray, dict]:
    """world_from_camera (n, 4, 4), FISHEYE624 parameters (n, 16) and how they were matched to the frames."""
    calib_times, params, device_from_camera = read_online_rgb_calibration(
        seq / "mps" / "slam" / "online_calibration.jsonl"
    )
    if to_device_ns is None:
        offset = timecode_to_device_offset(seq / "mps" / "slam" / "closed_loop_trajectory.csv", headset)
        to_device_ns = None if offset is None else (lambda t: t + offset)
    if to_device_ns is None:  # no time alignment: the calibration nearest the middle of the recording, for every frame
        pick = np.full(len(stamps), len(calib_times) // 2)
        how = "median record (time code not aligned to device time)"
    else:
        device = np.asarray([to_device_ns(t) for t in stamps])
        pick = np.abs(device[:, None] - calib_times[None, :]).argmin(axis=1)
        gap_ms = float(np.abs(device - calib_times[pick]).max() / 1e6)
        how = f"nearest in device time (largest gap {gap_ms:.1f} ms)"
    world_from_camera = np.stack([headset[t] for t in stamps]) @ device_from_camera[pick]
    return world_from_camera, params[pick], {"online_calibration": how}


def load_sequence(ref: SequenceRef, options: SourceOptions) -> Episode:
    seq = ref.path
    headset = read_headset(seq / "headset_trajectory.csv")
    use_mano = options.mano_dir is not None
    hand_file = seq / ("mano_hand_pose_trajectory.jsonl" if use_mano else "umetrack_hand_pose_trajectory.jsonl")
    if not hand_file.is_file():
        raise SkipSequence(
            ref.source_id,
            f"missing file {hand_file}" + ("" if use_mano else " (or pass --mano-dir to read the MANO hands)"),
        )
    stamps = rgb_timestamps(seq, sorted(t for t in read_hand_trajectory(hand_file) if t in headset))
    if not stamps:
        raise SkipSequence(ref.source_id, "no RGB frame has both a headset pose and hand annotations")
    stamps = stamps[: truncate(len(stamps), options)]
    n = len(stamps)
    video = _find_vrs(seq)
    reader = _VrsReader(video) if video is not None else None
    world_from_camera, fisheye, camera_meta = cameras(seq, stamps, headset, reader.to_device_ns if reader else None)
    width, height = (
        reader.image_size if reader else image_size_from_principal_point(*np.median(fisheye[:, 2:4], axis=0))
    )
    intrinsics = fisheye[:, :4].astype(
        np.float32
    )  # pinhole with the fisheye's f, cx, cy (what the video is resampled to)
    if use_mano:
        kp, valid, hand_mano = mano_hands(seq, stamps, options.mano_dir)
    else:
        (kp, valid), hand_mano = umetrack_hands(seq, stamps), None
    frames = reader.rgb_frames(stamps, fisheye, width, height) if reader else None
    meta_file = seq / "metadata.json"
    try:
        recording = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(meta_file, None, f"invalid JSON: {exc}") from None
    instructions, meta = placeholder_instructions(n, "manipulate the objects")
    metadata = {
        "source_id": ref.source_id,
        "layout": "sequence",
        "stream": RGB_STREAM,
        "hand_model": "mano" if use_mano else "umetrack",
        "participant_id": recording.get("participant_id") if isinstance(recording, dict) else None,
        "timestamps_ns": [int(t) for t in stamps],
        "video": "recording.vrs" if reader else "none",
        "camera_model": {
            "name": "FISHEYE624",
            "params": "fx fy cx cy k0 k1 k2 k3 k4 k5 p0 p1 s0 s1 s2 s3",
            "median": np.median(fisheye, axis=0).tolist(),
            "width": int(width),
            "height": int(height),
            "frames": "resampled to pinhole fx fy cx cy"
            if reader
            else "no video: intrinsics are the fisheye's f, cx, cy",
        },
        **camera_meta,
        **meta,
    }
    return Episode(
        keypoints_world=kp.astype(np.float32),
        hand_valid=valid,
        hand_mano=None if hand_mano is None else hand_mano.astype(np.float32),
        world_from_camera=world_from_camera.astype(np.float32),
        intrinsics=intrinsics,
        frames=frames,
        fps=30,
        instructions=instructions,
        source="hot3d",
        embodiment="human",
        metadata=metadata,
    )


def _find_vrs(seq: Path) -> Path | None:
    found = sorted(seq.glob("*.vrs"))
    return found[0] if found else None


class _VrsReader:
    """RGB frames and time-code conversion from an Aria VRS recording (projectaria-tools)."""

    def __init__(self, path: Path):
        try:
            from projectaria_tools.core import data_provider
            from projectaria_tools.core.stream_id import StreamId
        except ImportError:
            raise InputError(
                path, None, "reading Aria VRS video needs projectaria-tools: pip install 'dexego[aria]'"
            ) from None
        self.path = path
        self.provider = data_provider.create_vrs_data_provider(str(path))
        if self.provider is None:
            raise InputError(path, None, "not a readable VRS recording")
        self.stream = StreamId(RGB_STREAM)
        config = self.provider.get_image_configuration(self.stream)
        self.image_size = (int(config.image_width), int(config.image_height))

    def to_device_ns(self, timecode_ns: int) -> int:
        return int(self.provider.convert_from_timecode_to_device_time_ns(int(timecode_ns)))

    def rgb_frames(self, stamps: list[int], fisheye: np.ndarray, width: int, height: int) -> np.ndarray:
        from projectaria_tools.core.sensor_data import TimeDomain, TimeQueryOptions

        from dexego.geometry import Intrinsics
        from dexego.sources.undistort import fisheye624_project, warp_to_pinhole

        frames = []
        for t, p in zip(stamps, fisheye):
            data = self.provider.get_image_data_by_time_ns(
                self.stream, int(t), TimeDomain.TIME_CODE, TimeQueryOptions.CLOSEST
            )
            image = np.asarray(data[0].to_numpy_array())
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=-1)
            if image.shape[:2] != (height, width):
                raise InputError(
                    self.path,
                    RGB_STREAM,
                    f"frame at {t} is {image.shape[1]}x{image.shape[0]}, expected {width}x{height}",
                )
            frames.append(
                warp_to_pinhole(
                    image.astype(np.uint8), fisheye624_project(p), Intrinsics(p[0], p[1], p[2], p[3], width, height)
                )
            )
        return np.stack(frames)
