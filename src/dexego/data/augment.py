"""Flip augmentation (VITRA): a sample seen in a mirror, with hands, camera and words kept consistent.

Mirroring an image left-right is the reflection x -> -x of the camera frame
(OpenCV: x right). A reflected right hand is a left hand, so the two hands
swap places. For the hand frame of :func:`dexego.hands.frame.hand_frame`
the reflection works out to exact sign changes of the action vector (no
re-encoding, so it is cheap and loses nothing):

- wrist position ``p`` -> ``S p`` with ``S = diag(-1, 1, 1)``;
- wrist rotation ``R`` -> ``S R D`` with ``D = diag(1, -1, 1)``: the first
  rot6d column (``R[:, 0]``) changes the sign of its x, the second
  (``R[:, 1]``) the signs of its y and z;
- points in the wrist frame (fingertips, keypoints) -> ``D q``: y changes sign.

The image is mirrored, the principal point moves to ``cx' = W - cx`` (pixel
edges at 0 and W, the convention the samples' intrinsics are scaled in), the
field of view is unchanged, and the words "left" and "right" swap in the
instruction. Flipping twice gives the sample back exactly.

Not flippable, and refused with an error: the ``mano`` space (its PCA
coefficients have no sign-change mirror) and samples that carry a robot's
joints (a joint vector has no generic mirror). In a padded robot space
(``ego48+robot:NAME``) a human sample carries only the hand part (its joints
are padding, masked out of the loss), so it is mirrored like an ``ego48``
sample and its padding stays padding; a robot sample there is refused, and so
is a pure ``robot:NAME`` space, which has no part a human sample carries
(:func:`check_flippable` says so when the stage config is loaded).

Statistics: training sees a mixture of originals and mirror images, so the
normaliser's statistics are fitted on that mixture: each value counts as
itself with weight 1 - p and as its mirror image with weight p
(:func:`flip_dataset_stats`, ``dexego.data.targets.target_stats``).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from dexego.actions import get_space
from dexego.actions.spaces import SPACES, ActionSpace, split_space_name
from dexego.errors import ConfigError

# Per-part sign of one hand's values under the mirror (the hands also swap).
_PART_SIGNS = {
    "wrist_pos": (-1.0, 1.0, 1.0),
    "wrist_rot6d": (-1.0, 1.0, 1.0, 1.0, -1.0, -1.0),
}
_POINT_SIGNS = (1.0, -1.0, 1.0)  # a point in the wrist frame
_POINT_PARTS = ("fingertips", "keypoints")
_WORDS = re.compile(r"\b(left|right)\b", re.IGNORECASE)
ROBOT_FIELDS = ("robot_state", "robot_actions")


def flip_signs(space: str | ActionSpace) -> np.ndarray:
    """(hand_dim,) signs that mirror one hand's values (before the hands swap).

    The joints of a padded robot space (``ego48+robot:NAME``) get +1: a sample that may be mirrored there is a
    human one, whose joints are padding (:func:`flip_targets` refuses a sample that carries joints)."""
    space = get_space(space)
    signs: list[float] = []
    for part, size in space.parts:
        if part in _PART_SIGNS:
            signs.extend(_PART_SIGNS[part])
        elif part in _POINT_PARTS and size % 3 == 0:
            signs.extend(_POINT_SIGNS * (size // 3))
        elif part == "joints" and space.hand_space:
            signs.extend([1.0] * size)
        else:
            raise ValueError(f"action space {space.name!r}: part {part!r} has no mirror image (flip supports "
                             f"wrist pose, fingertips and keypoints; not MANO PCA or robot joints)")  # fmt: skip
    return np.asarray(signs, dtype=np.float32)


def flip_actions(values: np.ndarray, space: str | ActionSpace = "ego48") -> np.ndarray:
    """Mirror action or state vectors (..., dim): hands swap, each hand's values change sign per :func:`flip_signs`."""
    space = get_space(space)
    values = np.asarray(values)
    if values.shape[-1] != space.dim:
        raise ValueError(f"expected {space.dim} values in the last axis for {space.name!r}, got shape {values.shape}")
    signs = flip_signs(space).astype(values.dtype, copy=False)
    left, right = values[..., space.hand_slice(0)], values[..., space.hand_slice(1)]
    return np.concatenate([right * signs, left * signs], axis=-1)


def flip_dataset_stats(dataset, feature: str, flip: FlipConfig, space: str | ActionSpace) -> dict[str, np.ndarray]:
    """Statistics of ``feature`` (values in ``space``) of a ``dexego.data.Dataset`` as training sees them with ``flip``:
    every frame of an episode of an embodiment it mirrors counts as itself (weight 1 - p) and as its mirror image
    (weight p), other frames as themselves; the dataset's stored statistics when it mirrors nothing."""
    from dexego.data.stats import weighted_stats

    mirrored = [dataset.episode_meta(ep)["embodiment"] in flip.embodiments for ep in range(dataset.num_episodes)]
    if flip.probability <= 0 or not any(mirrored):
        return dataset.stats[feature]

    def values(wanted: bool) -> np.ndarray:
        parts = [dataset.episode_columns(ep)[feature].reshape(int(dataset.episode_lengths[ep]), -1)
                 for ep, m in enumerate(mirrored) if m == wanted]  # fmt: skip
        return np.concatenate(parts) if parts else np.zeros((0, get_space(space).dim))

    mine = values(True)
    return weighted_stats([(values(False), 1.0), (mine, 1.0 - flip.probability),
                           (flip_actions(mine, space), flip.probability)])  # fmt: skip


def check_flippable(action_space: str, embodiments: tuple[str, ...]) -> None:
    """ValueError unless samples of ``action_space`` of these embodiments can be mirrored (checked at config load)."""
    robot_space = split_space_name(action_space)
    hand = robot_space[0] if robot_space is not None else action_space
    if robot_space is not None and not hand:
        raise ValueError(f"action space {action_space!r} has no part a human sample carries, so nothing to mirror "
                         f"(mirror human samples in a padded space such as 'ego48+robot:{robot_space[1]}')")  # fmt: skip
    if robot_space is not None and set(embodiments) - {"human"}:
        others = sorted(set(embodiments) - {"human"})
        raise ValueError(f"embodiments {others} in the robot action space {action_space!r}: only human samples can be "
                         f"mirrored there (a robot's joint vector has no generic mirror)")  # fmt: skip
    if hand in SPACES:
        flip_signs(hand)


def flip_hand_flags(flags: np.ndarray) -> np.ndarray:
    """Per-hand flags (..., 2) with the hands swapped."""
    return np.ascontiguousarray(np.asarray(flags)[..., ::-1])


def flip_instruction(text: str) -> str:
    """Swap the words "left" and "right" (whole words, keeping their capitalisation)."""

    def swap(match: re.Match) -> str:
        word = match.group(0)
        other = "right" if word.lower() == "left" else "left"
        if word.isupper():
            return other.upper()
        return other.capitalize() if word[0].isupper() else other

    return _WORDS.sub(swap, text)


def flip_intrinsics(intrinsics: np.ndarray, width: int) -> np.ndarray:
    """(fx, fy, cx, cy) of an image of ``width`` pixels -> those of its mirror image."""
    out = np.array(intrinsics, copy=True)
    out[..., 2] = width - out[..., 2]
    return out


def flip_sample(sample: dict, space: str | ActionSpace = "ego48") -> dict:
    """The mirror image of a training sample (a new dict; the input is not changed).

    ``images`` are (T, 3, H, W) or (T, H, W, 3) uint8; ``state``/``actions``
    are in ``space``; ``intrinsics`` are at the image's size.
    """
    out = flip_targets(sample, space)
    images = np.asarray(sample["images"])
    channels_first = images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3)
    width = images.shape[-1] if channels_first else images.shape[-2]
    out["images"] = np.ascontiguousarray(images[..., ::-1] if channels_first else images[..., ::-1, :])
    out["intrinsics"] = flip_intrinsics(sample["intrinsics"], width)
    if "future_image" in sample:  # (3, H, W) or (H, W, 3), like one of the images
        future = np.asarray(sample["future_image"])
        out["future_image"] = np.ascontiguousarray(future[..., ::-1] if channels_first else future[..., ::-1, :])
    out["instruction"] = flip_instruction(sample["instruction"])
    return out


def flip_targets(sample: dict, space: str | ActionSpace = "ego48") -> dict:
    """``sample`` (a new dict) with its hands mirrored: state, actions, their validity and (robot spaces) the
    per-dimension mask; images, camera and words untouched (:func:`flip_sample` does those too)."""
    present = [name for name in ROBOT_FIELDS if name in sample]
    if present:
        raise ValueError(
            f"a sample with robot joints ({', '.join(present)}) cannot be mirrored: a joint vector has no generic mirror"
        )
    space = get_space(space)
    out = dict(sample)
    if "action_mask" in sample:  # a robot space: only a sample whose joints are padding can be mirrored
        mask = np.asarray(sample["action_mask"], dtype=bool)
        if mask[space.joint_index()].any():
            raise ValueError(f"a sample that carries robot joints ({sample.get('embodiment', 'a robot')} in "
                             f"{space.name!r}) cannot be mirrored: a joint vector has no generic mirror")  # fmt: skip
        out["action_mask"] = np.concatenate([mask[space.hand_slice(1)], mask[space.hand_slice(0)]])
    out["state"] = flip_actions(sample["state"], space)
    out["actions"] = flip_actions(sample["actions"], space)
    out["state_valid"] = flip_hand_flags(sample["state_valid"])
    out["action_valid"] = flip_hand_flags(sample["action_valid"])
    return out


@dataclass(frozen=True)
class FlipConfig:
    """Training-time flip augmentation: each sample of the listed embodiments is mirrored with ``probability``.

    The draw is a pure function of (seed, dataset name, episode, anchor, epoch), so a resumed run
    sees the same flips; validation sources never flip.
    """

    probability: float = 0.0
    embodiments: tuple[str, ...] = ("human",)  # VITRA mirrors human video; a mirrored robot is another robot
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.probability, (int, float)) and 0.0 <= self.probability <= 1.0):
            raise ConfigError(f"flip.probability must be a number in [0, 1], got {self.probability!r}")
        if isinstance(self.embodiments, str) or not all(isinstance(e, str) for e in self.embodiments):
            raise ConfigError(f"flip.embodiments must be a list of embodiment names, got {self.embodiments!r}")

    def draw(self, name: str, episode: int, anchor: int, epoch: int) -> bool:
        if self.probability <= 0.0:
            return False
        rng = np.random.default_rng(
            [self.seed, zlib.crc32(name.encode()), int(episode), int(anchor), int(epoch), 0xF11B]
        )
        return bool(rng.random() < self.probability)

    def apply(self, sample: dict, space: str | ActionSpace, name: str, epoch: int) -> dict:
        """``sample`` mirrored when this config draws a flip for it, else unchanged."""
        if self.probability <= 0.0 or sample["embodiment"] not in self.embodiments:
            return sample
        if not self.draw(name, int(sample["episode_index"]), int(sample["frame_index"]), epoch):
            return sample
        return flip_sample(sample, space)
