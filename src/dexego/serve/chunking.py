"""Robot-side action chunking: query a chunk every k steps, blend overlapping chunks, retarget.

Temporal ensembling as in ALOHA/ACT (used by EgoVLA): at control step t,
every chunk still covering t proposes an action; they are averaged with
weights exp(-w * i), i = 0 for the oldest proposal, so older plans damp the
newer ones and the motion stays smooth. EgoVLA uses w = 0.2 for the wrist
(arm) dimensions and w = 0.8 for the hand dimensions; here w is a vector
with one entry per action dimension, built from the action space's parts.

The blend averages rot6d vectors component-wise; the result is not exactly
orthonormal, which rot6d decoders (Gram-Schmidt) absorb.

Camera frames: a policy predicts each chunk in the camera frame of the
observation it was queried with. Chunks queried at different steps are only
comparable when that camera does not move relative to the robot base (a head
camera on a fixed torso, the benchmark humanoid): then blending them as they
come is exact. With a moving camera (a turning head, a walking robot, a
hand-held or head-mounted camera) give :class:`ChunkedPolicy` a
``camera_pose`` function: each chunk is then moved into the world frame when
it arrives, blended there, and the blended action is expressed in the camera
frame of the CURRENT observation (see :mod:`dexego.serve.camera_frames`).
Without it, chunks from different camera poses are mixed as if the camera had
stood still, and actions stay in their query-time frame.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from dexego.errors import ConfigError, InputError
from dexego.serve.camera_frames import change_chunk_frame, check_pose

ARM_PARTS = ("wrist_pos", "wrist_rot6d")  # the parts a robot executes with its arm; every other part is the hand


class ChunkSource(Protocol):
    def predict_action_chunk(self, observation: dict) -> np.ndarray: ...


Retarget = Callable[[np.ndarray, Any], np.ndarray]  # (action (D,), raw observation) -> robot command
CameraPose = Callable[[Any], np.ndarray]  # raw observation -> world_from_camera (4, 4) of its image


@dataclass(frozen=True)
class ChunkingConfig:
    """How :class:`ChunkedPolicy` turns chunks into per-step actions: re-query period and temporal ensembling."""

    query_every: int = 1  # re-query the policy every k control steps (EgoVLA: 1)
    ensemble: bool = True  # blend overlapping chunks; False plays each chunk as it came
    action_space: str | None = "ego48"  # splits the dims into arm/hand; None: arm_decay for every dim
    arm_decay: float = 0.2
    hand_decay: float = 0.8
    favour: Literal["oldest", "newest"] = "oldest"  # which proposal gets weight exp(0) = 1 (ACT: the oldest)

    def __post_init__(self) -> None:
        if self.query_every < 1:
            raise ConfigError(f"chunking: query_every must be at least 1, got {self.query_every}")
        if self.arm_decay < 0 or self.hand_decay < 0:
            raise ConfigError("chunking: decays must not be negative")
        if self.favour not in ("oldest", "newest"):
            raise ConfigError(f"chunking: favour must be 'oldest' or 'newest', got {self.favour!r}")

    def decay(self, dim: int) -> np.ndarray:
        if self.action_space is None:
            return np.full(dim, self.arm_decay)
        decay = ensemble_decay(self.action_space, self.arm_decay, self.hand_decay)
        if decay.shape[0] != dim:
            raise InputError(
                None, "actions", f"chunk has {dim} dims but action space {self.action_space!r} has {decay.shape[0]}"
            )
        return decay


def ensemble_decay(space: Any, arm_decay: float = 0.2, hand_decay: float = 0.8) -> np.ndarray:
    """Per-dimension decay w (D,): ``arm_decay`` on the wrist parts of both hands, ``hand_decay`` elsewhere."""
    from dexego.actions import get_space  # imports torch: only when a space is actually used

    space = get_space(space)
    decay = np.full(space.dim, float(hand_decay))
    for side in ("left", "right"):
        for part in ARM_PARTS:
            if part in space.part_names:
                decay[space.part_slice(part, side)] = arm_decay
    return decay


class TemporalEnsembler:
    """Holds the chunks that still cover future steps and blends their proposals for one step."""

    def __init__(self, decay: np.ndarray, favour: Literal["oldest", "newest"] = "oldest"):
        self.decay = np.asarray(decay, dtype=np.float64)
        self.favour = favour
        self._chunks: deque[tuple[int, np.ndarray]] = deque()  # (first step, (H, D)), oldest first

    def reset(self) -> None:
        self._chunks.clear()

    def add(self, step: int, chunk: np.ndarray) -> None:
        chunk = as_chunk(chunk)
        if chunk.shape[1] != self.decay.shape[0]:
            raise InputError(None, "actions", f"chunk has {chunk.shape[1]} dims, expected {self.decay.shape[0]}")
        if self._chunks and step <= self._chunks[-1][0]:
            raise ValueError(f"chunks must be added at increasing steps ({step} after {self._chunks[-1][0]})")
        self._chunks.append((step, chunk))

    def _forget_before(self, step: int) -> None:
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= step:
            self._chunks.popleft()

    def action(self, step: int) -> np.ndarray:
        self._forget_before(step)
        proposals = [chunk[step - start] for start, chunk in self._chunks if start <= step]
        if not proposals:
            raise InputError(
                None, "actions", f"no chunk covers step {step}: chunks are shorter than the re-query interval"
            )
        stacked = np.stack(proposals)  # (n, D), oldest first
        rank = np.arange(len(proposals), dtype=np.float64)
        if self.favour == "newest":
            rank = rank[::-1]
        weights = np.exp(-rank[:, None] * self.decay[None, :])  # (n, D)
        blended = (weights * stacked).sum(axis=0) / weights.sum(axis=0)
        return blended.astype(stacked.dtype) if stacked.dtype.kind == "f" else blended

    def latest(self, step: int) -> np.ndarray:
        """The newest chunk's proposal for ``step`` (no blending)."""
        self._forget_before(step)
        for start, chunk in reversed(self._chunks):
            if start <= step < start + len(chunk):
                return chunk[step - start]
        raise InputError(None, "actions", f"no chunk covers step {step}: chunks are shorter than the re-query interval")


def as_chunk(actions: Any) -> np.ndarray:
    """(H, D) finite actions from a policy answer (a leading batch dim of 1 is dropped)."""
    if hasattr(actions, "detach"):
        actions = actions.detach().cpu().numpy()
    actions = np.asarray(actions)
    if actions.ndim == 3 and actions.shape[0] == 1:
        actions = actions[0]
    if actions.ndim != 2 or actions.shape[0] == 0 or actions.dtype.kind not in "fiu":
        raise InputError(None, "actions", f"expected an (H, D) numeric chunk, got {actions.dtype} {actions.shape}")
    if actions.dtype.kind == "f" and not np.isfinite(actions).all():
        raise InputError(None, "actions", "chunk contains NaN or infinite values")
    return actions


class ChunkedPolicy:
    """A step-by-step controller over a chunk-predicting policy (the simulator-policy protocol).

    ``source`` is anything with ``predict_action_chunk`` (an in-process Policy or a PolicyClient, so
    in-process and remote evaluation run the very same code). ``observation_fn`` turns the controller's
    observation into the policy's; ``retarget(action, observation)`` turns one blended action (e.g. ego48)
    into the robot command. Both default to the identity.

    ``camera_pose(observation) -> world_from_camera (4, 4)`` (any fixed world: odometry, the robot base)
    is needed when the camera moves between queries: chunks are then blended in that world frame and
    each action comes out in the current observation's camera frame. Without it, overlapping chunks
    are blended in the frames they were predicted in, which is right only for a camera fixed to the
    robot base (see the module doc).
    """

    def __init__(
        self,
        source: ChunkSource,
        config: ChunkingConfig = ChunkingConfig(),
        observation_fn: Callable[[Any], dict] | None = None,
        retarget: Retarget | None = None,
        camera_pose: CameraPose | None = None,
    ):
        if camera_pose is not None and config.action_space is None:
            raise ConfigError(
                "chunking: camera_pose needs an action_space, to know which dimensions are the wrist poses"
            )
        self.source = source
        self.config = config
        self.observation_fn = observation_fn
        self.retarget = retarget
        self.camera_pose = camera_pose
        self._ensembler: TemporalEnsembler | None = None
        self.step = 0
        self.queries = 0

    def reset(self, seed: int | None = None) -> None:
        """Start an episode: forget old chunks; stateful hooks (an observation history) get ``reset(seed)`` too."""
        self.step = 0
        if self._ensembler is not None:
            self._ensembler.reset()
        for hook in (self.observation_fn, self.retarget, self.camera_pose):
            if hasattr(hook, "reset"):
                _reset(hook, seed)

    def act(self, observation: Any) -> np.ndarray:
        world_from_camera = None if self.camera_pose is None else check_pose(self.camera_pose(observation))
        if self.step % self.config.query_every == 0:
            model_obs = observation if self.observation_fn is None else self.observation_fn(observation)
            chunk = as_chunk(self.source.predict_action_chunk(model_obs))
            self.queries += 1
            if self._ensembler is None:
                self._ensembler = TemporalEnsembler(self.config.decay(chunk.shape[1]), self.config.favour)
            if world_from_camera is not None:
                chunk = change_chunk_frame(chunk, self.config.action_space, world_from_camera)
            self._ensembler.add(self.step, chunk)
        assert self._ensembler is not None
        action = self._ensembler.action(self.step) if self.config.ensemble else self._ensembler.latest(self.step)
        if world_from_camera is not None:
            action = change_chunk_frame(action, self.config.action_space, np.linalg.inv(world_from_camera))
        self.step += 1
        return action if self.retarget is None else np.asarray(self.retarget(action, observation))


def _reset(hook: Any, seed: int | None) -> None:
    """``hook.reset(seed)``, or ``hook.reset()`` for hooks whose reset takes no seed."""
    try:
        takes_seed = bool(inspect.signature(hook.reset).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        takes_seed = True
    hook.reset(seed) if takes_seed else hook.reset()
