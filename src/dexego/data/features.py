"""The names, dtypes and shapes of every dexego dataset feature (one place).

Per frame (data parquet, LeRobot v3.0 columns):

- ``observation.images.ego`` (video): the egocentric RGB stream, stored in mp4.
- ``observation.state`` float32 (48,): ``ego48`` of the hands at frame t in the
  camera frame of t (zeros for an invalid hand).
- ``action`` float32 (48,): ``ego48`` of the hands at frame t+1 in the camera
  frame of t; the last frame repeats its state. Training samples do not use it
  (they build a 30-step chunk on the fly); it exists so LeRobot tools see
  ordinary state/action columns.
- ``observation.hands.keypoints_world`` float32 (126,): (2, 21, 3) world-frame
  keypoints, left then right, row-major; NaN where unknown.
- ``observation.hands.valid`` bool (2,): per-hand validity (left, right).
- ``observation.camera.world_from_camera`` float32 (16,): the 4x4 camera-to-world
  pose, row-major.
- ``observation.camera.intrinsics`` float32 (4,): fx, fy, cx, cy at the stored
  video size.
- optional ``observation.hands.mano`` float32 (48,): (2, 24) MANO hands in the
  WORLD frame, left then right, each the ``mano`` action-space layout: root
  (wrist) position (3), root rotation as rot6d (6), 15 PCA coefficients. The
  convention (:data:`MANO_FLAT_HAND_MEAN`, :data:`MANO_NUM_PCA`): PCA relative to the MANO file's
  ``hands_mean`` (``flat_hand_mean=False``), average shape (betas = 0, as
  EgoVLA). NaN for hands that are not valid; present in every episode of a
  dataset that declares it (``dexego data fit-mano`` or a MANO source adds it).
- robot episodes only: ``observation.robot.state`` (S,) and ``action.robot`` (A,).
- ``episode.dexego`` string (1,): the episode's metadata as JSON (``source``,
  ``embodiment``, ``fps``, ``instructions``, ``metadata``), the same on every row
  of the episode (parquet stores it once per row group). The episodes table holds
  the same fields as columns; LeRobot's edit tools (``delete_episodes``,
  ``split_dataset``) rewrite that table without them but keep every data column,
  so readers recover the metadata from here.
- the LeRobot defaults ``timestamp``, ``frame_index``, ``episode_index``,
  ``index``, ``task_index``.
"""

from __future__ import annotations

from dexego.actions import get_space
from dexego.hands.layout import KEYPOINT_NAMES, SIDES

VIDEO_KEY = "observation.images.ego"
STATE = "observation.state"
ACTION = "action"
KEYPOINTS = "observation.hands.keypoints_world"
HAND_VALID = "observation.hands.valid"
CAMERA_POSE = "observation.camera.world_from_camera"
INTRINSICS = "observation.camera.intrinsics"
HAND_MANO = "observation.hands.mano"
ROBOT_STATE = "observation.robot.state"
ROBOT_ACTION = "action.robot"
EPISODE_META = "episode.dexego"
EPISODE_META_FIELDS = ("source", "embodiment", "fps", "instructions", "metadata")

TIMESTAMP = "timestamp"
FRAME_INDEX = "frame_index"
EPISODE_INDEX = "episode_index"
INDEX = "index"
TASK_INDEX = "task_index"
DEFAULT_FEATURES = (TIMESTAMP, FRAME_INDEX, EPISODE_INDEX, INDEX, TASK_INDEX)

STORED_SPACE = "ego48"  # the representation of observation.state / action on disk
MANO_SPACE = "mano"  # the per-hand layout of observation.hands.mano (world frame)
# How observation.hands.mano's PCA coefficients are defined: decode them with
# MANOModel(params, side, flat_hand_mean=MANO_FLAT_HAND_MEAN, num_pca=MANO_NUM_PCA) and zero betas.
MANO_FLAT_HAND_MEAN = False
MANO_NUM_PCA = 15


def mano_hand_dim() -> int:
    return get_space(MANO_SPACE).hand_dim


def _default_features(fps: int) -> dict[str, dict]:
    return {
        TIMESTAMP: {"dtype": "float32", "shape": [1], "names": None, "fps": fps},
        FRAME_INDEX: {"dtype": "int64", "shape": [1], "names": None, "fps": fps},
        EPISODE_INDEX: {"dtype": "int64", "shape": [1], "names": None, "fps": fps},
        INDEX: {"dtype": "int64", "shape": [1], "names": None, "fps": fps},
        TASK_INDEX: {"dtype": "int64", "shape": [1], "names": None, "fps": fps},
    }


def video_feature(height: int, width: int, fps: int, codec: str = "h264") -> dict:
    return {
        "dtype": "video",
        "shape": [height, width, 3],
        "names": ["height", "width", "channels"],
        "info": {
            "video.height": height,
            "video.width": width,
            "video.codec": codec,
            "video.pix_fmt": "yuv420p",
            "video.is_depth_map": False,
            "video.fps": fps,
            "video.channels": 3,
            "has_audio": False,
        },
    }


def keypoint_names() -> list[str]:
    return [f"{side}.{name}.{axis}" for side in SIDES for name in KEYPOINT_NAMES for axis in "xyz"]


def dexego_features(
    fps: int,
    video_shape: tuple[int, int] | None,
    robot_state_names: list[str] | None = None,
    robot_action_names: list[str] | None = None,
    mano: bool = False,
) -> dict[str, dict]:
    """The ``features`` dict of info.json for a dexego dataset (``mano``: with observation.hands.mano)."""
    space = get_space(STORED_SPACE)
    feats: dict[str, dict] = {}
    if video_shape is not None:
        feats[VIDEO_KEY] = video_feature(video_shape[0], video_shape[1], fps)

    def add(name, dtype, names):
        feats[name] = {"dtype": dtype, "shape": [len(names)], "names": list(names), "fps": fps}

    add(STATE, "float32", space.names())
    add(ACTION, "float32", space.names())
    add(KEYPOINTS, "float32", keypoint_names())
    add(HAND_VALID, "bool", list(SIDES))
    add(CAMERA_POSE, "float32", [f"r{i}{j}" for i in range(4) for j in range(4)])
    add(INTRINSICS, "float32", ["fx", "fy", "cx", "cy"])
    if mano:
        add(HAND_MANO, "float32", get_space(MANO_SPACE).names())
    if robot_state_names is not None:
        add(ROBOT_STATE, "float32", robot_state_names)
    if robot_action_names is not None:
        add(ROBOT_ACTION, "float32", robot_action_names)
    feats[EPISODE_META] = {"dtype": "string", "shape": [1], "names": None, "fps": fps}
    feats.update(_default_features(fps))
    return feats


def video_keys(features: dict[str, dict]) -> list[str]:
    return [k for k, v in features.items() if v.get("dtype") == "video"]


def numeric_keys(features: dict[str, dict]) -> list[str]:
    """Features stored as parquet columns with numeric values (statistics are computed for these)."""
    return [k for k, v in features.items() if v.get("dtype") not in ("video", "image", "string")]
