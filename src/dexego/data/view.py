"""``record_episode``: a Rerun recording (.rrd) of one episode: video, 3D hands, camera frustum, future paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dexego.data import features as F
from dexego.data.layout import publish, temp_path
from dexego.data.reader import Dataset
from dexego.errors import InputError
from dexego.hands.layout import BONES, FINGERTIPS, SIDES

_COLORS = {"left": (60, 140, 255), "right": (255, 120, 60)}


def record_episode(root: str | Path, episode: int, out: str | Path, horizon: int = 30) -> Path:
    """Write the episode as a Rerun recording to ``out`` (never spawns a viewer; written under a temporary name, then renamed)."""
    ds = Dataset(root)
    if not 0 <= episode < ds.num_episodes:
        raise InputError(
            root, "episode", f"{episode} is out of range: the dataset has episodes 0..{ds.num_episodes - 1}"
        )
    out = Path(out)
    tmp = temp_path(out)
    try:
        _record(ds, episode, tmp, horizon)
        publish(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        ds.close()
    return out


def _record(ds: Dataset, episode: int, out: Path, horizon: int) -> None:
    import rerun as rr

    cols = ds.episode_columns(episode)
    n = int(ds.episode_lengths[episode])
    kp = cols[F.KEYPOINTS].reshape(n, 2, 21, 3)
    valid = cols[F.HAND_VALID].astype(bool)
    pose = cols[F.CAMERA_POSE].reshape(n, 4, 4)
    intr = cols[F.INTRINSICS]
    video = ds.features.get(F.VIDEO_KEY)
    height, width = video["shape"][:2] if video else (int(2 * intr[0, 3]), int(2 * intr[0, 2]))
    frames = ds.frames(episode, np.arange(n)) if video else None

    rec = rr.RecordingStream("dexego_data_view")
    rec.save(out)
    rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
    for t in range(n):
        rec.set_time("frame", sequence=t)
        rec.log("world/camera", rr.Transform3D(translation=pose[t, :3, 3], mat3x3=pose[t, :3, :3]))
        fx, fy, cx, cy = intr[t]
        rec.log(
            "world/camera/image",
            rr.Pinhole(image_from_camera=[[fx, 0, cx], [0, fy, cy], [0, 0, 1]], resolution=[width, height]),
        )
        if frames is not None:
            rec.log("world/camera/image/rgb", rr.Image(frames[t]))
        task = ds.tasks[int(cols[F.TASK_INDEX][t])]
        rec.log("instruction", rr.TextLog(task))
        for h, side in enumerate(SIDES):
            color = _COLORS[side]
            if not valid[t, h]:
                rec.log(f"world/hands/{side}", rr.Clear(recursive=True))
                continue
            points = kp[t, h]
            rec.log(f"world/hands/{side}/keypoints", rr.Points3D(points, colors=color, radii=0.004))
            rec.log(f"world/hands/{side}/bones", rr.LineStrips3D([points[[a, b]] for a, b in BONES], colors=color))
            future = [s for s in range(t + 1, min(n, t + 1 + horizon)) if valid[s, h]]
            paths = [kp[[t] + future, h, 0]] + [kp[[t] + future, h, tip] for tip in FINGERTIPS]
            rec.log(f"world/hands/{side}/future", rr.LineStrips3D(paths, colors=color, radii=0.0015))
    rec.flush()
    rec.disconnect()
