"""The small-batch (online) path of HandRetargeter: numpy float64, warm starts, early stopping.

Calls of at most ``small_batch`` frames run the same kinematics and objective in numpy; ``small_batch=0``
forces the torch (batch) path on the same input, which is what these tests compare against.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dexego.hands.layout import FINGERTIPS
from dexego.retarget import HandRetargetConfig, HandRetargeter, RobotHand
from dexego.retarget.robots import load_robot

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hands" / "three_finger" / "three_finger_right.yaml"
INSPIRE = ROOT / "src" / "dexego" / "retarget" / "robots" / "inspire_hand_right.yaml"
TORCH = {"small_batch": 0}


@pytest.fixture(scope="module")
def hand64():
    return load_robot("inspire_hand_right", dtype=torch.float64).hands["right"]


@pytest.fixture(scope="module")
def hand32():
    return load_robot("inspire_hand_right").hands["right"]


def _random_joints(hand, count, seed):
    gen = torch.Generator().manual_seed(seed)
    return hand.lower + (hand.upper - hand.lower) * torch.rand(count, hand.num_joints, generator=gen, dtype=hand.dtype)


def _noisy_targets(hand, q, noise, seed):
    gen = torch.Generator().manual_seed(seed)
    targets = hand.keypoints21(q).double()
    tips = targets[..., list(FINGERTIPS), :]
    targets[..., list(FINGERTIPS), :] = tips + noise * torch.randn(tips.shape, generator=gen, dtype=torch.float64)
    return targets.to(hand.dtype)


def _smooth_sequence(hand, steps, seed):
    """Several frequencies per joint at 30 Hz, like benchmarks/retarget.py."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float64)[:, None] / 30.0
    phase = 0.5 * torch.ones(hand.num_joints, dtype=torch.float64)
    for _ in range(3):
        freq = 0.1 + 0.6 * torch.rand(hand.num_joints, generator=gen, dtype=torch.float64)
        shift = 2 * np.pi * torch.rand(hand.num_joints, generator=gen, dtype=torch.float64)
        phase = phase + 0.18 * torch.sin(2 * np.pi * freq * t + shift)
    return (hand.lower.double() + (hand.upper - hand.lower).double() * phase.clamp(0, 1)).to(hand.dtype)


def _tip_cost(hand, joints, targets):
    """Summed squared fingertip distance per frame (the objective without smoothness)."""
    tips = targets[..., list(FINGERTIPS), :].double()
    return ((hand.fingertips(joints.to(hand.dtype)).double() - tips) ** 2).sum((-1, -2))


def test_numpy_and_torch_kinematics_agree(hand64):
    q = _random_joints(hand64, 7, seed=0)
    points, jac = hand64.keypoints(q, jacobian=True)
    points_np, jac_np = hand64.keypoints(q.numpy(), jacobian=True)
    assert isinstance(points_np, np.ndarray) and isinstance(jac_np, np.ndarray)
    np.testing.assert_allclose(points_np, points.numpy(), atol=1e-12)
    np.testing.assert_allclose(jac_np, jac.numpy(), atol=1e-12)
    # The analytic Jacobian of the numpy path matches central differences of its own FK.
    eps, q0 = 1e-6, q[0].numpy()
    numeric = np.stack(
        [(hand64.keypoints(q0 + eps * e)[0] - hand64.keypoints(q0 - eps * e)[0]) / (2 * eps) for e in np.eye(6)], -1
    )
    np.testing.assert_allclose(jac_np[0], numeric, atol=1e-7)


def test_one_frame_fast_path_matches_the_batch_optimiser_on_random_poses(hand64):
    q = _random_joints(hand64, 40, seed=1)
    targets = _noisy_targets(hand64, q, 0.002, seed=2)
    fast, batch = HandRetargeter(hand64), HandRetargeter(hand64, HandRetargetConfig(**TORCH))
    for k in range(len(q)):
        one = targets[k : k + 1]  # one frame per call, cold start (grid search), as in the batch path
        a, b = fast.retarget(one), batch.retarget(one)
        assert a.valid.all() and b.valid.all()
        cost_a, cost_b = _tip_cost(hand64, a.joints, one), _tip_cost(hand64, b.joints, one)
        assert float(cost_a) <= float(cost_b) + 1e-10
        torch.testing.assert_close(a.joints, b.joints, atol=1e-6, rtol=0)
        torch.testing.assert_close(a.fingertip_error, b.fingertip_error, atol=1e-9, rtol=0)


def test_chunk_fast_path_matches_the_batch_optimiser_warm_started(hand64):
    q = _smooth_sequence(hand64, 31, seed=3)
    targets = _noisy_targets(hand64, q, 0.002, seed=4)
    config = {"iterations": 10, "warm_cost_tolerance": 0.0}  # both run to the same convergence test
    fast = HandRetargeter(hand64, HandRetargetConfig(**config))
    batch = HandRetargeter(hand64, HandRetargetConfig(**config, **TORCH))
    a = fast.retarget(targets[1:], previous=q[0])
    b = batch.retarget(targets[1:], previous=q[0])
    torch.testing.assert_close(a.joints, b.joints, atol=1e-6, rtol=0)
    assert (
        float(_tip_cost(hand64, a.joints, targets[1:]).sum())
        <= float(_tip_cost(hand64, b.joints, targets[1:]).sum()) + 1e-10
    )


def test_per_frame_tracking_error_is_close_to_the_batch_error(hand32):
    """One frame per call, warm-started from the previous frame, as a robot loop calls it."""
    targets = torch.stack(
        [_noisy_targets(hand32, _smooth_sequence(hand32, 90, seed), 0.002, seed + 10) for seed in range(2)]
    )
    retargeter = HandRetargeter(hand32)
    batch_error = float(HandRetargeter(hand32).retarget(targets).fingertip_error.mean())
    errors, iterations = [], []
    for s in range(len(targets)):
        previous = None
        for t in range(targets.shape[1]):
            result = retargeter.retarget(targets[s, t : t + 1], previous=previous)
            previous = result.joints[-1]
            errors.append(float(result.fingertip_error[0]))
            iterations.append(result.iterations)
    assert np.mean(errors) <= batch_error + 0.0003
    assert np.mean(errors) < 0.003  # 2 mm noise per coordinate: ~2.4 mm is the floor
    assert np.mean(iterations) < 4  # warm starts stop early on a negligible cost decrease


def test_chunked_tracking_error_is_close_to_the_batch_error(hand32):
    targets = _noisy_targets(hand32, _smooth_sequence(hand32, 90, seed=7), 0.002, seed=8)
    retargeter = HandRetargeter(hand32)
    batch_error = float(retargeter.retarget(targets).fingertip_error.mean())
    previous, errors = None, []
    for start in range(0, len(targets), 30):
        result = retargeter.retarget(targets[start : start + 30], previous=previous)
        previous = result.joints[-1]
        errors.append(result.fingertip_error)
    assert float(torch.cat(errors).mean()) <= batch_error + 0.0003


def test_warm_start_takes_the_lowest_cost_start(hand64):
    q = _random_joints(hand64, 2, seed=9)
    targets = hand64.keypoints21(q[:1])  # exactly reachable: q[0] has zero fingertip cost
    config = HandRetargetConfig(iterations=0, grid_candidates=0, smoothness=0.0)

    class Fixed(torch.nn.Module):
        def __init__(self, joints):
            super().__init__()
            self.joints = joints

        def forward(self, tips):
            return self.joints.expand(tips.shape[:-2] + self.joints.shape)

    # The initializer's guess is right and the previous solution is not: the guess is taken ...
    good_guess = HandRetargeter(hand64, config, initializer=Fixed(q[0])).retarget(targets, previous=q[1])
    torch.testing.assert_close(good_guess.joints[0], q[0])
    # ... and the other way round.
    bad_guess = HandRetargeter(hand64, config, initializer=Fixed(q[1])).retarget(targets, previous=q[0])
    torch.testing.assert_close(bad_guess.joints[0], q[0])
    # Cold (no previous): the guess alone starts the solver, for a single frame (no batch axes) as for a batch.
    cold = HandRetargeter(hand64, config, initializer=Fixed(q[0]))
    torch.testing.assert_close(cold.retarget(targets).joints[0], q[0])
    torch.testing.assert_close(cold.retarget(targets[None]).joints[0, 0], q[0])
    # Without an initializer, the grid search is a candidate: far better than a wrong previous solution.
    grid = HandRetargeter(hand64, HandRetargetConfig(iterations=0, smoothness=0.0)).retarget(targets, previous=q[1])
    stale = HandRetargeter(hand64, config).retarget(targets, previous=q[1])
    assert float(grid.fingertip_error[0]) < float(stale.fingertip_error[0])


def test_limits_and_couplings_are_respected_on_the_fast_path(tmp_path):
    # The built-in hand with one quadratic coupling (non-linear: the per-joint coupling loop) next to the linear ones.
    spec = yaml.safe_load(INSPIRE.read_text())
    xml = (INSPIRE.parent / spec["description"]).read_text()
    linear = '<joint joint1="right_index_intermediate" joint2="right_index_proximal" polycoef="0 1 0 0 0"'
    assert linear in xml
    (tmp_path / "hand.xml").write_text(xml.replace(linear, linear.replace("0 1 0 0 0", "0 0.5 0.3 0 0")))
    (tmp_path / "hand.yaml").write_text(yaml.safe_dump({**spec, "description": "hand.xml"}))
    quadratic = RobotHand.from_yaml(tmp_path / "hand.yaml", dtype=torch.float64)
    assert not quadratic.joint_map.linear
    for hand in (quadratic, RobotHand.from_yaml(EXAMPLE, dtype=torch.float64)):
        q = _random_joints(hand, 12, seed=11)
        full, dfull = hand.joint_map(q, derivative=True)
        full_np, dfull_np = hand.joint_map(q.numpy(), derivative=True)
        np.testing.assert_allclose(full_np, full.numpy(), atol=1e-12)
        np.testing.assert_allclose(dfull_np, dfull.numpy(), atol=1e-12)
        # Targets far outside the workspace push every joint against its limits.
        targets = hand.keypoints21(q) * 3.0
        previous = None
        for t in range(len(q)):
            result = HandRetargeter(hand).retarget(targets[t : t + 1], previous=previous)
            joints = result.joints[0]
            assert bool(((joints >= hand.lower - 1e-12) & (joints <= hand.upper + 1e-12)).all())
            full_joints = hand.full_joints(joints)
            for coupling in hand.chain.couplings:
                x = full_joints[coupling.driver] - hand.chain.joints[coupling.driver].ref
                expected = (
                    sum(c * x**k for k, c in enumerate(coupling.coefficients)) + hand.chain.joints[coupling.joint].ref
                )
                assert float(abs(full_joints[coupling.joint] - expected)) < 1e-9
            previous = joints


def test_bad_input_gives_clear_errors(hand32):
    retargeter = HandRetargeter(hand32)
    targets = hand32.keypoints21(hand32.joint_map.middle())[None]  # (1, 21, 3)
    with pytest.raises(ValueError, match=r"targets must have shape \(\.\.\., T, 21, 3\), got \(21, 3\)"):
        retargeter.retarget(targets[0])
    with pytest.raises(ValueError, match="targets must have shape"):
        retargeter.retarget(np.zeros((1, 20, 3)))
    with pytest.raises(ValueError, match=r"previous must have shape \(6,\)"):
        retargeter.retarget(targets, previous=np.zeros(5))
    with pytest.raises(ValueError, match="previous joints must be finite"):
        retargeter.retarget(targets, previous=np.full(6, np.nan))
    with pytest.raises(ValueError, match=r"valid must have shape \(1,\)"):
        retargeter.retarget(targets, valid=np.ones(2, dtype=bool))
    # A NaN fingertip marks the frame as having no hand: flagged, not solved, and no error.
    missing = targets.clone()
    missing[0, FINGERTIPS[1]] = float("nan")
    result = retargeter.retarget(missing, previous=hand32.joint_map.middle())
    assert not bool(result.valid[0]) and not bool(result.reachable[0])
    assert bool(torch.isnan(result.joints).all()) and bool(torch.isnan(result.fingertip_error).all())


@pytest.mark.parametrize("source", [EXAMPLE, "robosuite_fourier_left", "inspire_hand_right"])
def test_one_frame_solver_kinematics_and_warm_steps_match_the_small_batch_path(source):
    """MuJoCo-compiled FK + analytic Jacobian of the one-frame solver against the numpy kinematics, and a warm-started
    sequence one frame per call against the same frames sent as 1-frame sequences of a 2-sequence call."""
    from dexego.retarget.one_frame import OneFrameSolver

    hand = (
        RobotHand.from_yaml(source, dtype=torch.float64)
        if isinstance(source, Path)
        else load_robot(source, dtype=torch.float64).hands["left" if "left" in source else "right"]
    )
    retargeter = HandRetargeter(hand)
    solver = OneFrameSolver(retargeter)
    for q in _random_joints(hand, 5, seed=5).numpy():
        points, jac = hand.keypoints(q[None], jacobian=True)
        q_full, dfull_dof = solver._full(q)  # the coupling derivative's rows in MuJoCo's dof order
        ours, ours_jac = solver.kinematics(q_full, list(range(len(hand.keypoint_indices))))
        np.testing.assert_allclose(ours, points[0], atol=1e-12)
        np.testing.assert_allclose(ours_jac @ dfull_dof, jac[0], atol=1e-12)
    q = _smooth_sequence(hand, 40, seed=6)
    targets = _noisy_targets(hand, q, 0.002, seed=7)
    previous, other_previous = None, None
    for t in range(len(q)):
        one = retargeter.retarget(targets[t : t + 1], previous=previous)
        pair = torch.stack(
            [targets[t : t + 1], torch.full_like(targets[t : t + 1], float("nan"))]
        )  # 2 frames: the batch code
        other = retargeter.retarget(
            pair, previous=None if other_previous is None else torch.stack([other_previous] * 2)
        )
        torch.testing.assert_close(one.joints[0], other.joints[0, 0], atol=1e-9, rtol=0)
        torch.testing.assert_close(one.tip_error[0], other.tip_error[0, 0], atol=1e-9, rtol=0)
        previous, other_previous = one.joints[0], other.joints[0, 0]
