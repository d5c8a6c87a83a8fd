"""Chunks predicted under a moving camera: re-expressed in a common frame before blending, or blended wrongly without."""

import numpy as np
import pytest

from dexego.actions import get_space
from dexego.errors import ConfigError, InputError
from dexego.geometry import euler_to_matrix, invert_transform, make_transform, pos_rot6d_to_pose
from dexego.serve import ChunkedPolicy, ChunkingConfig
from dexego.serve.camera_frames import change_chunk_frame

SPACE = get_space("ego48")
HORIZON = 10


def pose(angles, position) -> np.ndarray:
    return make_transform(
        euler_to_matrix(np.asarray(angles, dtype=np.float64), "xyz"), np.asarray(position, dtype=np.float64)
    )


def world_from_wrist(t: int, side: int) -> np.ndarray:
    """A hand moving through the world on its own schedule (independent of the camera)."""
    return pose([0.3 + 0.02 * t, -0.2, 0.1 * side], [0.2 * side - 0.1 + 0.004 * t, 0.3, 0.8 - 0.003 * t])


def moving_camera(t: int) -> np.ndarray:
    """A turning, walking head: 2 degrees of yaw and 1 cm per step."""
    return pose([0.0, np.deg2rad(2.0) * t, 0.0], [0.01 * t, 0.0, 0.0])


FINGERTIPS = np.linspace(0.02, 0.09, 15)  # wrist-local: unaffected by any camera motion


def true_action(t: int, world_from_camera: np.ndarray) -> np.ndarray:
    """ego48 of the hands at step t, wrists in the frame of ``world_from_camera``."""
    action = np.zeros(SPACE.dim)
    for side in (0, 1):
        camera_from_wrist = invert_transform(world_from_camera) @ world_from_wrist(t, side)
        action[SPACE.part_slice("wrist_pos", side)] = camera_from_wrist[:3, 3]
        action[SPACE.part_slice("wrist_rot6d", side)] = np.concatenate(
            [camera_from_wrist[:3, 0], camera_from_wrist[:3, 1]]
        )
        action[SPACE.part_slice("fingertips", side)] = FINGERTIPS
    return action


class OraclePolicy:
    """Predicts the true future hands, in the camera frame of the observation it is asked with (as a Policy does)."""

    def predict_action_chunk(self, observation: dict) -> np.ndarray:
        t, camera = observation["step"], observation["world_from_camera"]
        return np.stack([true_action(t + k, camera) for k in range(HORIZON)]).astype(np.float32)


def run(camera_fn, with_pose: bool, steps: int = 12) -> np.ndarray:
    """Per step: the largest wrist position error (m) of the controller's action against the truth in the current frame."""
    policy = ChunkedPolicy(OraclePolicy(), ChunkingConfig(query_every=1),
                           camera_pose=(lambda obs: obs["world_from_camera"]) if with_pose else None)  # fmt: skip
    policy.reset(0)
    errors = []
    for t in range(steps):
        observation = {"step": t, "world_from_camera": camera_fn(t)}
        action = policy.act(observation)
        truth = true_action(t, camera_fn(t))
        np.testing.assert_allclose(action[SPACE.part_slice("fingertips", 0)], FINGERTIPS, atol=1e-6)
        errors.append(
            max(
                np.abs(action[SPACE.part_slice("wrist_pos", s)] - truth[SPACE.part_slice("wrist_pos", s)]).max()
                for s in (0, 1)
            )
        )
    return np.array(errors)


def test_moving_camera_chunks_blend_exactly_in_a_common_frame():
    errors = run(moving_camera, with_pose=True)
    assert errors.max() < 1e-5  # every proposal agrees once expressed in the same frame


def test_moving_camera_chunks_blended_in_their_own_frames_are_wrong():
    """The limitation the camera_pose hook removes: several centimetres off after a few steps of head motion."""
    errors = run(moving_camera, with_pose=False)
    assert errors[0] < 1e-6  # one chunk: nothing to mix yet
    assert errors[5:].min() > 0.01


def test_fixed_camera_needs_no_pose():
    def fixed(t):
        return pose([0.1, -0.2, 0.05], [0.0, 0.5, 1.2])

    assert run(fixed, with_pose=False).max() < 1e-6
    assert run(fixed, with_pose=True).max() < 1e-5


def test_change_chunk_frame_moves_wrists_keeps_local_parts_and_missing_hands():
    rng = np.random.default_rng(0)
    chunk = np.stack([true_action(t, moving_camera(3)) for t in range(4)])
    chunk[2, SPACE.hand_slice("right")] = 0.0  # a missing hand
    target_from_source = pose(rng.normal(size=3), rng.normal(size=3))
    moved = change_chunk_frame(chunk, "ego48", target_from_source)
    for t in range(4):
        for side in (0, 1):
            if t == 2 and side == 1:
                assert not moved[t, SPACE.hand_slice(side)].any()
                continue
            before = pos_rot6d_to_pose(chunk[t, SPACE.hand_slice(side)][:9])
            after = pos_rot6d_to_pose(moved[t, SPACE.hand_slice(side)][:9])
            np.testing.assert_allclose(after, target_from_source @ before, atol=1e-9)
            np.testing.assert_array_equal(
                moved[t, SPACE.part_slice("fingertips", side)], chunk[t, SPACE.part_slice("fingertips", side)]
            )
    back = change_chunk_frame(moved, "ego48", invert_transform(target_from_source))
    np.testing.assert_allclose(back, chunk, atol=1e-9)


def test_bad_camera_input_is_refused():
    with pytest.raises(ConfigError, match="camera_pose needs an action_space"):
        ChunkedPolicy(OraclePolicy(), ChunkingConfig(action_space=None), camera_pose=lambda obs: np.eye(4))
    policy = ChunkedPolicy(OraclePolicy(), camera_pose=lambda obs: obs["world_from_camera"])
    bad = moving_camera(0)
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match=r"observation: world_from_camera: expected a finite \(4, 4\) camera pose"):
        policy.act({"step": 0, "world_from_camera": bad})
    with pytest.raises(InputError, match="world_from_camera"):
        policy.act({"step": 0, "world_from_camera": np.eye(3)})


def test_reset_reaches_hooks_with_and_without_a_seed():
    calls = []

    class SeedlessRetarget:  # like dexego.retarget.deploy.Ego48ToRobot
        def reset(self):
            calls.append("retarget")

        def __call__(self, action, observation):
            return action

    class History:
        def reset(self, seed=None):
            calls.append(("history", seed))

        def __call__(self, observation):
            return observation

    policy = ChunkedPolicy(OraclePolicy(), observation_fn=History(), retarget=SeedlessRetarget())
    policy.reset(7)
    assert calls == [("history", 7), "retarget"]
