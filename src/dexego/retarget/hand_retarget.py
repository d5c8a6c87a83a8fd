"""Human hand -> robot hand joints by batched optimisation in torch.

Every frame of every sequence is solved at once by a projected
Levenberg-Marquardt method on the actuated joints:

- position objective: robot keypoints (fingertips, and any other mapped
  keypoint the input provides) at the target positions in the wrist frame;
- vector objective (DexPilot-like pinch term): thumb-tip -> fingertip
  vectors equal to the target's;
- couplings: the solver works on actuated joints and maps them through
  the hand's couplings (mimic joints), with their derivative;
- joint limits: every step is projected onto the (coupling-aware) limits;
- temporal smoothness: ``smoothness * |q_t - q_t±1|^2`` along the time axis,
  with the neighbours taken from the previous iteration (a Jacobi sweep, so
  frames stay independent within an iteration and the batch stays wide);
- warm start: ``init`` (e.g. the learned retargeter's prediction, or the
  last solution of the previous chunk) and ``previous`` (the joint vector
  just before the first frame, which the first frame is kept close to);
  a warm-started call starts each frame from the lowest-cost of the
  previous solution, the initializer's guess and the grid search, and
  stops once the cost no longer drops;
- small calls (a frame or a chunk, up to ``small_batch`` frames on the CPU)
  run the same kinematics and objective in numpy float64
  (``dexego.retarget.arrays``): on tiny arrays torch's per-operation
  overhead, not arithmetic, is what costs.

Targets are robot-scale points in the robot's wrist frame; see
:func:`human_to_targets` / :func:`ego48_to_targets` for human input.
Frames with missing hands or NaN fingertips are flagged, not solved;
frames whose mean fingertip error stays above a fraction of the robot
hand's length (``unreachable_fraction``) are flagged as unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dexego.actions.spaces import get_space
from dexego.errors import ConfigError
from dexego.geometry.transforms import apply_transform, invert_transform
from dexego.hands.frame import hand_frame
from dexego.hands.layout import FINGERTIPS
from dexego.retarget.arrays import cast, concat, expand, eye, namespace, repeat_each
from dexego.retarget.hand import RobotHand
from dexego.retarget.solve import solve_spd

THUMB_TIP = 4


@dataclass(frozen=True)
class HandRetargetConfig:
    """Weights and optimiser settings of human-to-robot hand retargeting (fingertips, pinches, smoothness)."""

    fingertip_weight: float = 1.0  # wrist -> fingertip positions
    pinch_weight: float = 0.0  # thumb tip -> other fingertip vectors
    keypoint_weight: float = 0.0  # other mapped keypoints (PIPs, ...) when the targets have them
    smoothness: float = 1e-4  # m^2 of fingertip error per rad^2 of frame-to-frame joint change
    iterations: int = 5
    # A grid search per independent joint group picks each frame's start: at most ``grid_candidates`` points
    # per group, no finer than ``grid_spacing`` rad (m for slides). 0 candidates: no grid search.
    grid_candidates: int = 4096
    grid_spacing: float = 0.005
    damping: float = 1e-3  # initial Levenberg-Marquardt damping, relative to the diagonal
    tolerance: float = 1e-5  # rad: stop when no frame's step is larger
    # Calls with at most this many frames (all sequences together) on the CPU run in numpy float64:
    # the online path (a frame or a chunk per call), where torch's per-operation overhead dominates. 0: never.
    small_batch: int = 64
    # Warm-started calls (``previous`` given) also stop once every frame's accepted step lowered its objective by less
    # than this (m^2 of summed squared fingertip error): from the last solution two or three steps usually suffice.
    warm_cost_tolerance: float = 1e-8
    # A frame is flagged unreachable when its mean fingertip distance to the targets (after the solve: how far the
    # targets are from anything the hand can reach) exceeds this fraction of the robot hand's length (wrist -> middle
    # MCP -> straight middle fingertip; 0.15 of a 0.19 m hand is 28 mm), or ``unreachable_error`` (m) when that is set.
    unreachable_fraction: float = 0.15
    unreachable_error: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "fingertip_weight",
            "pinch_weight",
            "keypoint_weight",
            "smoothness",
            "damping",
            "tolerance",
            "warm_cost_tolerance",
        ):
            if not getattr(self, name) >= 0:  # also rejects NaN
                raise ConfigError(f"hand retarget {name} must be >= 0, got {getattr(self, name)}")
        if self.fingertip_weight + self.pinch_weight + self.keypoint_weight <= 0:
            raise ConfigError("hand retarget needs a positive fingertip, pinch or keypoint weight")
        if (
            self.iterations < 0 or self.grid_candidates < 0 or self.small_batch < 0
        ):  # 0 iterations: the grid search or initializer alone
            raise ConfigError(
                f"hand retarget iterations, grid_candidates and small_batch must be >= 0, got {self.iterations}, {self.grid_candidates}, {self.small_batch}"
            )
        if not (self.grid_spacing > 0 and self.unreachable_fraction > 0):
            raise ConfigError(
                f"hand retarget grid_spacing and unreachable_fraction must be > 0, got {self.grid_spacing}, {self.unreachable_fraction}"
            )
        if self.unreachable_error is not None and not self.unreachable_error > 0:
            raise ConfigError(
                f"hand retarget unreachable_error must be > 0 (or None: scaled with the hand), got {self.unreachable_error}"
            )


@dataclass
class HandRetargetResult:
    """Retargeted robot hand joints per frame, with fingertip errors, validity and reachability."""

    joints: torch.Tensor  # (..., T, A) actuated joints; NaN on invalid frames
    fingertip_error: torch.Tensor  # (..., T) mean fingertip distance to the targets (m); NaN on invalid frames
    valid: torch.Tensor  # (..., T) bool: the frame had a hand with finite fingertips
    reachable: torch.Tensor  # (..., T) bool: valid and fingertip_error <= the unreachable threshold
    iterations: int
    joint_names: tuple[str, ...]
    tip_error: torch.Tensor | None = (
        None  # (..., T, F) distance of each mapped fingertip to its target (m); NaN if invalid
    )
    threshold: float = float("nan")  # m: the unreachable threshold this hand was judged by


class HandRetargeter:
    """Batched optimisation retargeter for one robot hand (one frame per call: :mod:`dexego.retarget.one_frame`)."""

    def __init__(
        self, hand: RobotHand, config: HandRetargetConfig | None = None, initializer: torch.nn.Module | None = None
    ):
        """``initializer``: e.g. a :class:`LearnedRetargeter` (fingertips -> joints) whose guess starts the solver."""
        self.hand = hand
        self.config = config or HandRetargetConfig()
        self.initializer = initializer
        self._terms = self._build_terms()
        # Only the keypoints some objective uses need Jacobians.
        self._term_rows = tuple(int(k) for k in torch.nonzero((self._terms != 0).any(0)).flatten())

    def _build_terms(self) -> torch.Tensor:
        """(R, K) matrix: residual r = M @ (robot - target), rows weighted by sqrt(weight)."""
        cfg, rows = self.config, []
        indices = self.hand.keypoint_indices
        num = len(indices)
        for k, kp in enumerate(indices):
            weight = cfg.fingertip_weight if kp in FINGERTIPS else (0.0 if kp in (0, 5, 9, 17) else cfg.keypoint_weight)
            if weight > 0:
                row = torch.zeros(num)
                row[k] = weight**0.5
                rows.append(row)
        if cfg.pinch_weight > 0:
            if THUMB_TIP not in indices:
                raise ConfigError(
                    f"hand retarget pinch_weight > 0 needs a thumb tip; hand {self.hand.name!r} maps none"
                )
            thumb = indices.index(THUMB_TIP)
            for tip in self.hand.tip_indices[1:]:
                row = torch.zeros(num)
                row[indices.index(tip)] = cfg.pinch_weight**0.5
                row[thumb] = -(cfg.pinch_weight**0.5)
                rows.append(row)
        if not rows:
            raise ValueError("every objective weight is zero: nothing to optimise")
        return torch.stack(rows).to(self.hand.dtype)

    def retarget(
        self,
        targets: np.ndarray | torch.Tensor,
        valid: np.ndarray | torch.Tensor | None = None,
        init: np.ndarray | torch.Tensor | None = None,
        previous: np.ndarray | torch.Tensor | None = None,
    ) -> HandRetargetResult:
        """targets (..., T, 21, 3) robot-scale keypoints in the wrist frame (NaN where unknown) -> joints.

        ``valid`` (..., T) marks frames with a hand; ``init`` (..., T, A) or
        (A,) starts the solver (default: middle of the limits, or
        ``previous``); ``previous`` (..., A) is the solution just before
        the first frame (streaming warm start). A warm-started call without
        ``init`` starts each frame from the best (lowest objective) of the
        previous solution, the initializer's guess and the grid search.
        Calls of at most ``small_batch`` frames on the CPU run in numpy
        float64 (same objective and steps, far less per-call overhead).
        """
        hand, cfg = self.hand, self.config
        device = hand.lower.device
        shape = tuple(np.shape(targets))
        if len(shape) < 3 or shape[-2:] != (21, 3):
            raise ValueError(f"targets must have shape (..., T, 21, 3), got {shape}")
        batch, steps = shape[:-3], shape[-3]
        seqs, num_act = int(np.prod(batch, dtype=np.int64)), hand.num_joints
        small = device.type == "cpu" and seqs * steps <= cfg.small_batch
        if small and seqs * steps == 1 and init is None:
            return self._retarget_one(targets, valid, previous, batch)
        if small:
            xp, as_array = np, _numpy_float64
        else:
            xp = torch

            def as_array(x):
                return torch.as_tensor(x, dtype=hand.dtype, device=device)

        targets = as_array(targets).reshape((-1, steps, 21, 3))
        prev = None
        if previous is not None:
            prev = as_array(previous)
            if tuple(prev.shape[-1:]) != (num_act,) or int(np.prod(prev.shape)) not in (num_act, seqs * num_act):
                raise ValueError(
                    f"previous must have shape ({num_act},) or {tuple(batch + (num_act,))}, got {tuple(prev.shape)}"
                )
            if not bool(xp.isfinite(prev).all()):
                raise ValueError("previous joints must be finite (pass None to start a new sequence)")
            prev = expand(prev.reshape(-1, num_act), (seqs, num_act))
        tip_targets = targets[..., list(hand.tip_indices), :]  # the fingertips this hand has
        frame_valid = xp.isfinite(tip_targets).all(-1).all(-1)
        if valid is not None:
            valid_t = _numpy_bool(valid) if small else torch.as_tensor(valid, dtype=torch.bool, device=device)
            if tuple(valid_t.shape) != batch + (steps,):
                raise ValueError(f"valid must have shape {tuple(batch + (steps,))}, got {tuple(valid_t.shape)}")
            frame_valid = frame_valid & valid_t.reshape(-1, steps)

        # Per-keypoint target and weight mask (non-finite optional keypoints drop out of the objective).
        mine = targets[..., list(hand.keypoint_indices), :]  # (S, T, K, 3)
        known = xp.isfinite(mine).all(-1) & frame_valid[..., None]
        mine = xp.where(known[..., None], mine, xp.zeros_like(mine))
        all_terms = self._constants(xp, device)["terms"]
        row_known = (cast(all_terms != 0, mine) @ cast(~known, mine)[..., None])[..., 0] == 0  # (S, T, R)
        target_rows = xp.einsum("rk,stkc->strc", all_terms, mine)

        def flat(x):
            return x.reshape((seqs * steps,) + tuple(x.shape[2:]))

        objective = _Objective(self, flat(target_rows), flat(cast(row_known, mine)))

        guess = None
        if init is None and self.initializer is not None:
            with torch.no_grad():
                tips = torch.as_tensor(xp.where(frame_valid[..., None, None], tip_targets, xp.zeros_like(tip_targets)))
                guess = as_array(self.initializer(tips).reshape(batch + (steps, num_act)))
        if prev is not None and init is None:  # warm start: per frame the best of several starts
            starts = [self._initial(None, prev, batch, seqs, steps, like=mine)]
            if guess is not None:
                guess = guess.reshape(seqs, steps, num_act)
                starts.append(self.hand.joint_map.clamp(xp.where(xp.isfinite(guess), guess, starts[0])))
            if cfg.grid_candidates > 0:
                starts.append(self._grid_start(target_rows, row_known, starts[0]))
            q_flat, residual, jac, points = self._best_start(xp.stack(starts), objective, frame_valid, prev)
        else:
            q = self._initial(init if init is not None else guess, prev, batch, seqs, steps, like=mine)
            if init is None and guess is None and prev is None and cfg.grid_candidates > 0:
                q = self._grid_start(target_rows, row_known, q)
            q_flat = flat(q)
            residual, jac, points = objective(q_flat)
        mu = xp.zeros_like(q_flat[:, 0]) + cfg.damping
        identity = eye(num_act, q_flat)
        lam = cfg.smoothness
        cost_tolerance = cfg.warm_cost_tolerance if prev is not None else 0.0
        iterations = 0
        for iterations in range(1, cfg.iterations + 1):  # noqa: B007 (the count is read after the loop)
            nb_sum, nb_count = self._neighbours(q_flat.reshape(seqs, steps, num_act), frame_valid, prev)
            nb_sum, nb_count = flat(nb_sum), flat(nb_count)
            current = objective.cost(residual, q_flat, nb_sum, nb_count)
            jac_t = xp.swapaxes(jac, -1, -2)
            grad = (jac_t @ residual[..., None])[..., 0] + lam * (nb_count[:, None] * q_flat - nb_sum)
            normal = jac_t @ jac + (lam * nb_count)[:, None, None] * identity
            diagonal = xp.diagonal(normal, 0, -2, -1)
            damped = normal + identity * (mu[:, None] * (diagonal + 1e-9))[:, None, :]
            step = -solve_spd(damped, grad)
            if (
                cost_tolerance > 0
            ):  # warm start: skip evaluating a step the Gauss-Newton model says gains nothing anywhere
                predicted = -(2 * (step * grad).sum(-1) + (step[..., None, :] @ normal @ step[..., None])[..., 0, 0])
                if bool((predicted < cost_tolerance).all()):
                    break
            candidate = hand.joint_map.clamp(q_flat + step)
            new_residual, new_jac, new_points = objective(candidate)
            decrease = current - objective.cost(new_residual, candidate, nb_sum, nb_count)
            accept = decrease >= 0
            q_flat = xp.where(accept[:, None], candidate, q_flat)
            residual = xp.where(accept[:, None], new_residual, residual)
            jac = xp.where(accept[:, None, None], new_jac, jac)
            points = xp.where(accept[:, None, None], new_points, points)
            mu = xp.where(accept, mu * 0.3, mu * 4.0).clip(1e-9, 1e9)
            # Converged: every frame's step is below the tolerance or (warm start) its accepted step barely lowered the cost.
            if bool(((xp.amax(abs(step), -1) < cfg.tolerance) | (accept & (decrease < cost_tolerance))).all()):
                break

        q = q_flat.reshape(seqs, steps, num_act)
        tips = points.reshape(seqs, steps, -1, 3)[..., list(hand.tip_rows), :]
        distance = np.linalg.norm(tips - tip_targets, axis=-1) if small else (tips - tip_targets).norm(dim=-1)
        distance = xp.where(frame_valid[..., None], distance, float("nan"))
        error = distance.mean(-1)
        joints = xp.where(frame_valid[..., None], q, float("nan"))
        if small:
            joints = torch.from_numpy(joints).to(hand.dtype)
            error = torch.from_numpy(error).to(hand.dtype)
            distance = torch.from_numpy(distance).to(hand.dtype)
            frame_valid = torch.from_numpy(frame_valid)
        threshold = self.unreachable_threshold
        reachable = frame_valid & (error <= threshold)
        out = batch + (steps,)
        return HandRetargetResult(
            joints=joints.reshape(out + (num_act,)),
            fingertip_error=error.reshape(out),
            valid=frame_valid.reshape(out),
            reachable=reachable.reshape(out),
            iterations=iterations,
            joint_names=hand.joint_names,
            tip_error=distance.reshape(out + (len(hand.tip_rows),)),
            threshold=threshold,
        )

    @property
    def unreachable_threshold(self) -> float:
        """m: the mean fingertip error above which a frame counts as unreachable (scaled with the hand by default)."""
        cfg = self.config
        return (
            cfg.unreachable_error
            if cfg.unreachable_error is not None
            else cfg.unreachable_fraction * self.hand.hand_length
        )

    def _retarget_one(self, targets, valid, previous, batch) -> HandRetargetResult:
        """One frame on the CPU: :class:`dexego.retarget.one_frame.OneFrameSolver` (same objective and steps).

        Written for the per-call cost of a live loop: numpy views of the inputs, outputs built from numpy arrays.
        """
        solver = self.__dict__.get("_one_frame")
        if solver is None:
            from dexego.retarget.one_frame import OneFrameSolver

            solver = self.__dict__["_one_frame"] = OneFrameSolver(self)
            solver.out_dtype = np.dtype(str(self.hand.dtype).removeprefix("torch."))
            solver.joint_names = self.hand.joint_names
            solver.threshold = self.unreachable_threshold
        num_act = solver.num_act
        frame = _cpu_float64(targets).reshape(21, 3)
        ok = True
        if valid is not None:
            valid_np = _numpy_bool(valid)
            if valid_np.size != 1:
                raise ValueError(f"valid must have shape {tuple(batch + (1,))}, got {tuple(valid_np.shape)}")
            ok = bool(valid_np.reshape(()))
        prev = None
        if previous is not None:
            prev = _cpu_float64(previous)
            if prev.size != num_act:
                raise ValueError(
                    f"previous must have shape ({num_act},) or {tuple(batch + (num_act,))}, got {tuple(prev.shape)}"
                )
            prev = prev.reshape(-1)
            if not np.isfinite(prev).all():
                raise ValueError("previous joints must be finite (pass None to start a new sequence)")
        guess = None
        if self.initializer is not None:
            tips = frame[solver.tip_indices]
            tips = np.where(np.isfinite(tips), tips, 0.0)
            with torch.no_grad():
                guess = _numpy_float64(self.initializer(torch.as_tensor(tips[None], dtype=torch.float32)).reshape(-1))
        q, error, tip_error, iterations = solver.solve(frame, ok, prev, guess)
        valid_frame = error == error  # not NaN
        out = batch + (1,)
        dtype = solver.out_dtype
        return HandRetargetResult(
            joints=torch.from_numpy(q.astype(dtype).reshape(out + (num_act,))),
            fingertip_error=torch.from_numpy(np.full(out, error, dtype=dtype)),
            valid=torch.from_numpy(np.full(out, valid_frame)),
            reachable=torch.from_numpy(np.full(out, valid_frame and error <= solver.threshold)),
            iterations=iterations,
            joint_names=solver.joint_names,
            tip_error=torch.from_numpy(tip_error.astype(dtype).reshape(out + (len(tip_error),))),
            threshold=solver.threshold,
        )

    def _constants(self, xp, device) -> dict:
        """Constant arrays of the objective and grid search, built once per library (numpy float64 or torch)."""
        key = "numpy" if xp is np else str(device)
        cache = self.__dict__.setdefault("_constant_cache", {})
        if key not in cache:
            used = self._term_rows
            terms = self._terms.to(device)
            const = {"terms": terms, "used_terms": terms[:, list(used)], "used": used}
            if xp is np:
                const = {k: (v.double().cpu().numpy() if isinstance(v, torch.Tensor) else v) for k, v in const.items()}
            cache[key] = const
        return cache[key]

    def _best_start(self, starts, objective: _Objective, frame_valid, prev):
        """starts (C, S, T, A) -> per frame the start with the lowest objective (smoothness included):
        joints (S * T, A) and their residual, Jacobian and keypoints (one evaluation for all candidates)."""
        xp = namespace(starts)
        count, seqs, steps, num_act = starts.shape
        many = starts.reshape(count * seqs, steps, num_act)
        nb_sum, nb_count = self._neighbours(
            many, concat([frame_valid] * count, 0), None if prev is None else concat([prev] * count, 0)
        )
        flat_q = many.reshape(-1, num_act)
        residual, jac, points = objective(flat_q, copies=count)
        cost = objective.cost(residual, flat_q, nb_sum.reshape(-1, num_act), nb_count.reshape(-1))
        best = cost.reshape(count, seqs * steps).argmin(0)
        frames = np.arange(seqs * steps) if xp is np else torch.arange(seqs * steps, device=best.device)
        pick = best * (seqs * steps) + frames
        return flat_q[pick], residual[pick], jac[pick], points[pick]

    def _build_grid(self) -> list[tuple[list[int], list[int], torch.Tensor, torch.Tensor]]:
        """Per independent group of joints: (joints, residual rows, candidate joints (G, A), table (2 R'*3, G)).

        Joints and residual rows split into groups that do not interact (with
        position objectives each finger is its own group), so each group's
        grid is small and searched on its own. The table holds the squared
        and plain candidate residual coordinates, [c^2, c], for one product.
        """
        hand = self.hand
        moves = torch.tensor(hand.chain.ancestors_mask(), dtype=torch.float64)  # (K, J)
        _, dfull = hand.joint_map(hand.joint_map.middle(), derivative=True)
        joint_uses = (dfull.abs() > 0).double().cpu()  # (J, A)
        touches = (self._terms.double().abs() @ moves @ joint_uses) > 0  # (R, A)
        groups, seen = [], set()
        for a in range(hand.num_joints):
            if a in seen:
                continue
            joints, rows, frontier = {a}, set(), [a]
            while frontier:
                j = frontier.pop()
                for r in torch.nonzero(touches[:, j]).flatten().tolist():
                    if r not in rows:
                        rows.add(r)
                        for j2 in torch.nonzero(touches[r]).flatten().tolist():
                            if j2 not in joints:
                                joints.add(j2)
                                frontier.append(j2)
            seen |= joints
            if rows:
                groups.append((sorted(joints), sorted(rows)))
        middle = hand.joint_map.middle()
        grids = []
        for joints, rows in groups:
            lower, upper = hand.lower[joints].double().cpu(), hand.upper[joints].double().cpu()
            finite = torch.isfinite(lower) & torch.isfinite(upper)
            span = torch.where(finite, upper - lower, torch.full_like(lower, 2 * torch.pi))
            base = torch.where(finite, lower, middle[joints].double().cpu() - torch.pi)
            # The same spacing (radians or metres) on every axis of the group.
            spacing = max(
                self.config.grid_spacing, float((span.prod() / self.config.grid_candidates) ** (1 / len(joints)))
            )
            counts = [max(2, int(round(float(s / spacing))) + 1) for s in span]
            axes = [b + torch.linspace(0, 1, n, dtype=torch.float64) * s for b, s, n in zip(base, span, counts)]
            mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(joints)).to(middle)
            candidates = middle.expand(mesh.shape[0], -1).clone()
            candidates[:, joints] = mesh
            points = hand.keypoints(candidates)[0]
            cand = torch.einsum("rk,gkc->grc", self._terms.to(points), points)[:, rows].reshape(len(candidates), -1)
            table = torch.cat([cand**2, cand], -1).T.contiguous()  # (2 R'*3, G)
            grids.append((joints, rows, candidates, table))
        return grids

    def _grids(self, xp) -> list:
        cache = self.__dict__.setdefault("_grid_cache", {})
        key = "numpy" if xp is np else "torch"
        if key not in cache:
            grids = cache["torch"] if "torch" in cache else self._build_grid()
            cache["torch"] = grids
            if xp is np:
                cache[key] = [(j, r, c.double().cpu().numpy(), t.double().cpu().numpy()) for j, r, c, t in grids]
        return cache[key]

    def _grid_start(self, target_rows, row_known, q):
        """Per frame and joint group, the grid candidate nearest the targets (joints outside every group: ``q``)."""
        q = q.copy() if isinstance(q, np.ndarray) else q.clone()
        for joints, rows, candidates, table in self._grids(namespace(q)):
            known = cast(repeat_each(row_known[..., rows], 3, -1), target_rows)  # (S, T, R'*3)
            tgt = (target_rows[..., rows, :] * row_known[..., rows, None]).reshape(known.shape)
            # sum over known coordinates of (c - t)^2 minus the constant t^2: [m, -2 m t] . [c^2, c], one product
            features = concat([known, -2 * tgt * known], -1).reshape(-1, 2 * tgt.shape[-1])
            best = concat([features[i : i + 1024] @ table for i in range(0, len(features), 1024)], 0).argmin(-1)
            q[..., joints] = candidates[best.reshape(known.shape[:2])][..., joints]
        return q

    def _initial(self, init, previous, batch, seqs: int, steps: int, like) -> torch.Tensor | np.ndarray:
        """Start joints (S, T, A), clamped to the limits, in the library and dtype of ``like``."""
        hand = self.hand
        xp = namespace(like)
        num_act = hand.num_joints
        middle = hand.joint_map.middle_numpy() if xp is np else hand.joint_map.middle()
        if init is not None:
            start = (
                _numpy_float64(init) if xp is np else torch.as_tensor(init, dtype=hand.dtype, device=hand.lower.device)
            )
            if tuple(start.shape) == (num_act,):
                start = expand(start, (seqs, steps, num_act))
            elif tuple(start.shape) == batch + (steps, num_act):
                start = start.reshape(seqs, steps, num_act)
            else:
                raise ValueError(
                    f"init must have shape ({num_act},) or {tuple(batch + (steps, num_act))}, got {tuple(start.shape)}"
                )
            start = xp.where(xp.isfinite(start), start, middle)
        elif previous is not None:
            start = expand(previous.reshape(-1, 1, num_act), (seqs, steps, num_act))
        else:
            start = expand(middle, (seqs, steps, num_act))
        return hand.joint_map.clamp(start)

    @staticmethod
    def _neighbours(q, valid, previous):
        """Sum of the valid neighbours' joints (S, T, A) and their count (S, T)."""
        xp = namespace(q)
        weight = cast(valid, q)
        qv = xp.where(valid[..., None], q, xp.zeros_like(q))
        left_q = xp.zeros_like(q)
        left_w = xp.zeros_like(weight)
        left_q[:, 1:], left_w[:, 1:] = qv[:, :-1], weight[:, :-1]
        if previous is not None:
            left_q[:, 0], left_w[:, 0] = previous, 1.0
        right_q = xp.zeros_like(q)
        right_w = xp.zeros_like(weight)
        right_q[:, :-1], right_w[:, :-1] = qv[:, 1:], weight[:, 1:]
        count = (left_w + right_w) * weight
        total = (left_q + right_q) * weight[..., None]
        return total, count


class _Objective:
    """One call's objective: weighted residual rows of the used keypoints, plus the smoothness term in ``cost``.

    The batch (torch) and small-batch (numpy) paths both evaluate it; it holds
    the call's flattened targets (N, R, 3) and row weights (N, R).
    """

    def __init__(self, retargeter: HandRetargeter, target, weights):
        xp = namespace(target)
        const = retargeter._constants(xp, None if xp is np else target.device)
        self.hand = retargeter.hand
        self.terms, self.used = const["used_terms"], list(const["used"])
        self.target, self.weights = target, weights
        self.smoothness = retargeter.config.smoothness

    def _rows(self, points, copies: int):
        xp = namespace(points)
        target, weights = (
            (self.target, self.weights)
            if copies == 1
            else (concat([self.target] * copies, 0), concat([self.weights] * copies, 0))
        )
        return (xp.einsum("rk,nkc->nrc", self.terms, points[:, self.used]) - target) * weights[..., None], weights

    def __call__(self, q_flat, copies: int = 1):
        """(N, A) -> residual (N, R*3), its Jacobian (N, R*3, A), every mapped keypoint (N, K, 3).

        ``copies`` > 1: ``q_flat`` stacks that many candidates for the same targets.
        """
        xp = namespace(q_flat)
        points, jac = self.hand.keypoints(q_flat, jacobian=True, rows=tuple(self.used))
        residual, weights = self._rows(points, copies)
        jac_rows = xp.einsum("rk,nkca->nrca", self.terms, jac) * weights[..., None, None]
        num = residual.shape[0]
        return residual.reshape(num, -1), jac_rows.reshape(num, -1, q_flat.shape[-1]), points

    def cost(self, residual, q, nb_sum, nb_count):
        """Squared residual plus smoothness towards the neighbours (up to a constant per frame)."""
        return (residual**2).sum(-1) + self.smoothness * (nb_count[:, None] * q**2 - 2 * q * nb_sum).sum(-1)


def _numpy_float64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _cpu_float64(x) -> np.ndarray:
    """:func:`_numpy_float64` without torch's conversions for a CPU tensor (a numpy view, cast by numpy)."""
    if isinstance(x, torch.Tensor) and x.device.type == "cpu":
        x = x.detach().numpy()
    return np.asarray(x, dtype=np.float64)


def _numpy_bool(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy().astype(bool)
    return np.asarray(x, dtype=bool)


def human_to_targets(
    keypoints: np.ndarray | torch.Tensor,
    hand: RobotHand,
    valid: np.ndarray | torch.Tensor | None = None,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Human keypoints (..., T, 21, 3) in any frame -> robot-scale targets in the wrist frame, and validity (..., T).

    The wrist frame is ``dexego.hands.hand_frame`` of the human keypoints (the
    robot's is the same function of its sites). ``scale`` defaults to the
    robot's hand length over the sequence's median human hand length (wrist
    -> middle MCP plus the middle finger's three bones, which does not change
    with flexion; the palm alone when the finger is not tracked), one factor
    per sequence so that the hand shape is not distorted frame by frame.
    Matching whole-hand lengths rather than palms puts the human fingertips
    where the (usually shorter-fingered) robot hand can reach them.
    """
    kp = torch.as_tensor(keypoints, dtype=torch.float64)
    if kp.ndim < 3 or kp.shape[-2:] != (21, 3):
        raise ValueError(f"keypoints must have shape (..., T, 21, 3), got {tuple(kp.shape)}")
    frame_points = kp[..., [0, 5, 9, 17], :]
    ok = torch.isfinite(frame_points).all(-1).all(-1)
    if valid is not None:
        ok &= torch.as_tensor(valid, dtype=torch.bool)
    placeholder = torch.tensor([[0.0, 0, 0]] + [[0.0, 0, 0]] * 20, dtype=torch.float64)
    placeholder[5], placeholder[9], placeholder[17] = (
        torch.tensor([0.09, 0.02, 0.0]),
        torch.tensor([0.09, 0.0, 0.0]),
        torch.tensor([0.08, -0.04, 0.0]),
    )
    safe = torch.where(ok[..., None, None], kp, placeholder)
    frame = hand_frame(safe, hand.side)
    local = apply_transform(invert_transform(frame), kp)
    if scale is None:
        bones = (kp[..., [9, 10, 11, 12], :] - kp[..., [0, 9, 10, 11], :]).norm(dim=-1)  # (..., T, 4)
        palm = torch.where(ok, bones[..., 0], torch.full_like(bones[..., 0], float("nan")))
        length = torch.where(ok, bones.sum(-1), torch.full_like(palm, float("nan")))
        by_length = hand.hand_length / torch.nanmedian(length, dim=-1, keepdim=True).values
        by_palm = hand.palm_length / torch.nanmedian(palm, dim=-1, keepdim=True).values
        factor = torch.where(torch.isfinite(by_length), by_length, by_palm)
        factor = torch.where(torch.isfinite(factor), factor, torch.full_like(factor, hand.human_scale()))
        local = local * factor[..., None, None]
    else:
        local = local * scale
    local = torch.where(ok[..., None, None], local, torch.full_like(local, float("nan")))
    return local.to(hand.dtype), ok


def ego48_to_targets(
    actions: np.ndarray | torch.Tensor,
    hand: RobotHand,
    valid: np.ndarray | torch.Tensor | None = None,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``ego48`` actions (..., T, 48) -> targets (..., T, 21, 3) for this hand's side (fingertips only), validity.

    ``valid`` (..., T, 2) are the per-hand flags; ``scale`` defaults to the
    robot hand length over a typical human one (ego48 has no finger joints).
    """
    space = get_space("ego48")
    act = torch.as_tensor(actions, dtype=torch.float64)
    if act.shape[-1] != space.dim:
        raise ValueError(f"ego48 actions must have {space.dim} values, got shape {tuple(act.shape)}")
    side = 0 if hand.side == "left" else 1
    tips = act[..., space.part_slice("fingertips", side)].reshape(act.shape[:-1] + (5, 3))
    ok = torch.isfinite(tips).all(-1).all(-1)
    if valid is not None:
        ok &= torch.as_tensor(valid, dtype=torch.bool)[..., side]
    factor = hand.human_scale() if scale is None else scale
    targets = torch.full(act.shape[:-1] + (21, 3), float("nan"), dtype=torch.float64)
    targets[..., list(FINGERTIPS), :] = torch.where(
        ok[..., None, None], tips * factor, torch.full_like(tips, float("nan"))
    )
    return targets.to(hand.dtype), ok


def knuckle_aligned_targets(
    keypoints: np.ndarray | torch.Tensor,
    hand: RobotHand,
    valid: np.ndarray | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets that keep the human fingertips where they are in the world, for a robot placed by the palm.

    The robot's knuckle centroid (index, middle, little MCP) is put on the
    human's, and each fingertip keeps its offset from the human knuckles,
    scaled by finger length (robot middle finger / the sequence's median
    human middle finger). Returns targets (..., T, 21, 3) in the robot's
    wrist frame, validity (..., T), and the offset (..., T, 3) from the human
    wrist to where the robot's wrist must go, in the human wrist frame.
    """
    kp = torch.as_tensor(keypoints, dtype=torch.float64)
    local, ok = human_to_targets(kp, hand, valid, scale=1.0)
    local = local.double()
    human_knuckles = local[..., [5, 9, 17], :].mean(-2)  # (..., T, 3)
    robot_points = hand.keypoints21(hand.joint_map.middle()).double()
    robot_knuckles = robot_points[[5, 9, 17]].mean(-2)
    finger = (kp[..., [10, 11, 12], :] - kp[..., [9, 10, 11], :]).norm(dim=-1).sum(-1)
    finger = torch.where(ok, finger, torch.full_like(finger, float("nan")))
    ratio = (hand.hand_length - hand.palm_length) / torch.nanmedian(finger, dim=-1, keepdim=True).values
    ratio = torch.where(torch.isfinite(ratio), ratio, torch.full_like(ratio, hand.human_scale()))
    targets = robot_knuckles + ratio[..., None, None] * (local - human_knuckles.unsqueeze(-2))
    offset = human_knuckles - robot_knuckles
    nan = torch.full_like(targets, float("nan"))
    return (
        torch.where(ok[..., None, None], targets, nan).to(hand.dtype),
        ok,
        torch.where(ok[..., None], offset, nan[..., 0, :]),
    )
