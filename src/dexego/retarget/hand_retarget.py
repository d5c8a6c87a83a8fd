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
  just before the first frame, which the first frame is kept close to).

Targets are robot-scale points in the robot's wrist frame; see
:func:`human_to_targets` / :func:`ego48_to_targets` for human input.
Frames with missing hands or NaN fingertips are flagged, not solved;
frames whose mean fingertip error stays above ``unreachable_error`` are
flagged as unreachable.
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
from dexego.retarget.hand import RobotHand
from dexego.retarget.solve import solve_spd

THUMB_TIP = 4


@dataclass(frozen=True)
class HandRetargetConfig:
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
    unreachable_error: float = 0.01  # m: mean fingertip error above which a frame is flagged

    def __post_init__(self) -> None:
        for name in ("fingertip_weight", "pinch_weight", "keypoint_weight", "smoothness", "damping", "tolerance"):
            if not getattr(self, name) >= 0:  # also rejects NaN
                raise ConfigError(f"hand retarget {name} must be >= 0, got {getattr(self, name)}")
        if self.fingertip_weight + self.pinch_weight + self.keypoint_weight <= 0:
            raise ConfigError("hand retarget needs a positive fingertip, pinch or keypoint weight")
        if self.iterations < 0 or self.grid_candidates < 0:  # 0 iterations: the grid search or initializer alone
            raise ConfigError(f"hand retarget iterations and grid_candidates must be >= 0, got {self.iterations}, {self.grid_candidates}")
        if not (self.grid_spacing > 0 and self.unreachable_error > 0):
            raise ConfigError(f"hand retarget grid_spacing and unreachable_error must be > 0, got {self.grid_spacing}, {self.unreachable_error}")


@dataclass
class HandRetargetResult:
    joints: torch.Tensor  # (..., T, A) actuated joints; NaN on invalid frames
    fingertip_error: torch.Tensor  # (..., T) mean fingertip distance to the targets (m); NaN on invalid frames
    valid: torch.Tensor  # (..., T) bool: the frame had a hand with finite fingertips
    reachable: torch.Tensor  # (..., T) bool: valid and fingertip_error <= unreachable_error
    iterations: int
    joint_names: tuple[str, ...]


class HandRetargeter:
    """Batched optimisation retargeter for one robot hand."""

    def __init__(self, hand: RobotHand, config: HandRetargetConfig | None = None, initializer: "torch.nn.Module | None" = None):
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
                raise ConfigError(f"hand retarget pinch_weight > 0 needs a thumb tip; hand {self.hand.name!r} maps none")
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
        targets: "np.ndarray | torch.Tensor",
        valid: "np.ndarray | torch.Tensor | None" = None,
        init: "np.ndarray | torch.Tensor | None" = None,
        previous: "np.ndarray | torch.Tensor | None" = None,
    ) -> HandRetargetResult:
        """targets (..., T, 21, 3) robot-scale keypoints in the wrist frame (NaN where unknown) -> joints.

        ``valid`` (..., T) marks frames with a hand; ``init`` (..., T, A) or
        (A,) starts the solver (default: middle of the limits, or
        ``previous``); ``previous`` (..., A) is the solution just before
        the first frame (streaming warm start).
        """
        hand, cfg = self.hand, self.config
        device = self.hand.lower.device
        targets = torch.as_tensor(targets, dtype=hand.dtype, device=device)
        if targets.ndim < 3 or targets.shape[-2:] != (21, 3):
            raise ValueError(f"targets must have shape (..., T, 21, 3), got {tuple(targets.shape)}")
        batch, steps = targets.shape[:-3], targets.shape[-3]
        seqs, num_act = int(np.prod(batch, dtype=np.int64)), hand.num_joints
        targets = targets.reshape((-1, steps, 21, 3))
        tip_targets = targets[..., list(hand.tip_indices), :]  # the fingertips this hand has
        frame_valid = torch.isfinite(tip_targets).all(-1).all(-1)
        if valid is not None:
            valid_t = torch.as_tensor(valid, dtype=torch.bool, device=device)
            if valid_t.shape != batch + (steps,):
                raise ValueError(f"valid must have shape {tuple(batch + (steps,))}, got {tuple(valid_t.shape)}")
            frame_valid &= valid_t.reshape(-1, steps)

        # Per-keypoint target and weight mask (non-finite optional keypoints drop out of the objective).
        mine = targets[..., list(hand.keypoint_indices), :]  # (S, T, K, 3)
        known = torch.isfinite(mine).all(-1) & frame_valid[..., None]
        mine = torch.where(known[..., None], mine, torch.zeros_like(mine))
        all_terms = self._terms.to(device)
        row_known = ((all_terms != 0).to(hand.dtype) @ (~known).to(hand.dtype).unsqueeze(-1))[..., 0] == 0  # (S, T, R)
        target_rows = torch.einsum("rk,stkc->strc", all_terms, mine)

        if init is None and self.initializer is not None:
            with torch.no_grad():
                safe_tips = torch.where(frame_valid[..., None, None], tip_targets, torch.zeros_like(tip_targets))
                init = self.initializer(safe_tips).to(hand.dtype).reshape(batch + (steps, num_act))
        q = self._initial(init, previous, batch, seqs, steps).clone()
        if init is None and previous is None and cfg.grid_candidates > 0:
            q = self._grid_start(target_rows, row_known, q)
        prev = None if previous is None else torch.as_tensor(previous, dtype=hand.dtype, device=device).reshape(-1, num_act)
        if prev is not None and prev.shape[0] != seqs:
            prev = prev.expand(seqs, num_act)

        flat = lambda x: x.reshape((seqs * steps,) + x.shape[2:])  # noqa: E731
        weights = flat(row_known.to(hand.dtype))
        target_flat = flat(target_rows)

        used = self._term_rows
        terms = self._terms[:, list(used)].to(device)

        def evaluate(q_flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            points, jac = hand.keypoints(q_flat, jacobian=True, rows=used)
            residual = (torch.einsum("rk,nkc->nrc", terms, points[:, list(used)]) - target_flat) * weights[..., None]
            jac_rows = torch.einsum("rk,nkca->nrca", terms, jac) * weights[..., None, None]
            return residual.reshape(residual.shape[0], -1), jac_rows.reshape(jac_rows.shape[0], -1, num_act)

        q_flat = flat(q)
        residual, jac = evaluate(q_flat)
        mu = torch.full((seqs * steps,), cfg.damping, dtype=hand.dtype, device=device)
        eye = torch.eye(num_act, dtype=hand.dtype, device=device)
        iterations = 0
        for iterations in range(1, cfg.iterations + 1):
            nb_sum, nb_count = self._neighbours(q_flat.reshape(seqs, steps, num_act), frame_valid, prev)
            nb_sum, nb_count = flat(nb_sum), flat(nb_count)
            lam = cfg.smoothness

            def cost(res: torch.Tensor, qq: torch.Tensor) -> torch.Tensor:
                return (res**2).sum(-1) + lam * (nb_count[:, None] * qq**2 - 2 * qq * nb_sum).sum(-1)

            current = cost(residual, q_flat)
            grad = (jac.transpose(-1, -2) @ residual.unsqueeze(-1))[..., 0] + lam * (nb_count[:, None] * q_flat - nb_sum)
            normal = jac.transpose(-1, -2) @ jac + (lam * nb_count)[:, None, None] * eye
            diagonal = torch.diagonal(normal, dim1=-2, dim2=-1)
            damped = normal + torch.diag_embed(mu[:, None] * (diagonal + 1e-9))
            step = -solve_spd(damped, grad)
            candidate = hand.joint_map.clamp(q_flat + step)
            new_residual, new_jac = evaluate(candidate)
            accept = cost(new_residual, candidate) <= current
            q_flat = torch.where(accept[:, None], candidate, q_flat)
            residual = torch.where(accept[:, None], new_residual, residual)
            jac = torch.where(accept[:, None, None], new_jac, jac)
            mu = torch.where(accept, mu * 0.3, mu * 4.0).clamp(1e-9, 1e9)
            if float(step.abs().max()) < cfg.tolerance:
                break

        q = q_flat.reshape(seqs, steps, num_act)
        tips = hand.fingertips(q)
        error = (tips - tip_targets).norm(dim=-1).mean(-1)
        nan = torch.tensor(float("nan"), dtype=hand.dtype, device=device)
        error = torch.where(frame_valid, error, nan)
        joints = torch.where(frame_valid[..., None], q, nan)
        reachable = frame_valid & (error <= cfg.unreachable_error)
        shape = batch + (steps,)
        return HandRetargetResult(
            joints=joints.reshape(shape + (num_act,)),
            fingertip_error=error.reshape(shape),
            valid=frame_valid.reshape(shape),
            reachable=reachable.reshape(shape),
            iterations=iterations,
            joint_names=hand.joint_names,
        )

    def _build_grid(self) -> list[tuple[list[int], list[int], torch.Tensor, torch.Tensor]]:
        """Per independent group of joints: (joints, residual rows, candidate joints (G, A), candidate rows (G, R', 3)).

        Joints and residual rows split into groups that do not interact (with
        position objectives each finger is its own group), so each group's
        grid is small and searched on its own.
        """
        hand = self.hand
        moves = torch.tensor(hand.chain.ancestors_mask(), dtype=torch.float64)  # (K, J)
        _, dfull = hand.joint_map(hand.joint_map.middle(), derivative=True)
        joint_uses = (dfull.abs() > 0).double().cpu()  # (J, A)
        touches = ((self._terms.double().abs() @ moves @ joint_uses) > 0)  # (R, A)
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
            spacing = max(self.config.grid_spacing, float((span.prod() / self.config.grid_candidates) ** (1 / len(joints))))
            counts = [max(2, int(round(float(s / spacing))) + 1) for s in span]
            axes = [b + torch.linspace(0, 1, n, dtype=torch.float64) * s for b, s, n in zip(base, span, counts)]
            mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(joints)).to(middle)
            candidates = middle.expand(mesh.shape[0], -1).clone()
            candidates[:, joints] = mesh
            points = hand.keypoints(candidates)[0]
            cand_rows = torch.einsum("rk,gkc->grc", self._terms.to(points), points)[:, rows]
            grids.append((joints, rows, candidates, cand_rows))
        return grids

    def _grid_start(self, target_rows: torch.Tensor, row_known: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "_grids"):
            self._grids = self._build_grid()
        q = q.clone()
        for joints, rows, candidates, cand_rows in self._grids:
            known = row_known[..., rows].repeat_interleave(3, dim=-1).to(target_rows.dtype)  # (S, T, R'*3)
            tgt = (target_rows[..., rows, :] * row_known[..., rows, None]).flatten(-2)
            # sum over known coordinates of (c - t)^2 minus the constant t^2: [m, -2 m t] . [c^2, c], one product
            features = torch.cat([known, -2 * tgt * known], -1).reshape(-1, 2 * tgt.shape[-1])
            cand = cand_rows.reshape(cand_rows.shape[0], -1)
            table = torch.cat([cand**2, cand], -1).T.contiguous()  # (2 R'*3, G)
            best = torch.cat([(chunk @ table).argmin(-1) for chunk in features.split(1024)]).reshape(known.shape[:2])
            q[..., joints] = candidates[best][..., joints]
        return q

    def _initial(self, init, previous, batch, seqs: int, steps: int) -> torch.Tensor:
        hand = self.hand
        num_act = hand.num_joints
        if init is not None:
            start = torch.as_tensor(init, dtype=hand.dtype, device=hand.lower.device)
            if start.shape == (num_act,):
                start = start.expand(seqs, steps, num_act)
            elif start.shape == batch + (steps, num_act):
                start = start.reshape(seqs, steps, num_act)
            else:
                raise ValueError(f"init must have shape ({num_act},) or {tuple(batch + (steps, num_act))}, got {tuple(start.shape)}")
            start = torch.where(torch.isfinite(start), start, hand.joint_map.middle())
        elif previous is not None:
            start = torch.as_tensor(previous, dtype=hand.dtype, device=hand.lower.device).reshape(-1, 1, num_act)
            start = start.expand(seqs, steps, num_act)
        else:
            start = hand.joint_map.middle().expand(seqs, steps, num_act)
        return hand.joint_map.clamp(start)

    @staticmethod
    def _neighbours(q: torch.Tensor, valid: torch.Tensor, previous: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum of the valid neighbours' joints (S, T, A) and their count (S, T)."""
        weight = valid.to(q.dtype)
        qv = torch.where(valid[..., None], q, torch.zeros_like(q))
        left_q = torch.zeros_like(q)
        left_w = torch.zeros_like(weight)
        left_q[:, 1:], left_w[:, 1:] = qv[:, :-1], weight[:, :-1]
        if previous is not None:
            left_q[:, 0], left_w[:, 0] = previous, 1.0
        right_q = torch.zeros_like(q)
        right_w = torch.zeros_like(weight)
        right_q[:, :-1], right_w[:, :-1] = qv[:, 1:], weight[:, 1:]
        count = (left_w + right_w) * weight
        total = (left_q + right_q) * weight[..., None]
        return total, count


def human_to_targets(
    keypoints: "np.ndarray | torch.Tensor",
    hand: RobotHand,
    valid: "np.ndarray | torch.Tensor | None" = None,
    scale: "float | None" = None,
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
    placeholder[5], placeholder[9], placeholder[17] = torch.tensor([0.09, 0.02, 0.0]), torch.tensor([0.09, 0.0, 0.0]), torch.tensor([0.08, -0.04, 0.0])
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
    actions: "np.ndarray | torch.Tensor",
    hand: RobotHand,
    valid: "np.ndarray | torch.Tensor | None" = None,
    scale: "float | None" = None,
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
    targets[..., list(FINGERTIPS), :] = torch.where(ok[..., None, None], tips * factor, torch.full_like(tips, float("nan")))
    return targets.to(hand.dtype), ok


def knuckle_aligned_targets(
    keypoints: "np.ndarray | torch.Tensor",
    hand: RobotHand,
    valid: "np.ndarray | torch.Tensor | None" = None,
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
    return torch.where(ok[..., None, None], targets, nan).to(hand.dtype), ok, torch.where(ok[..., None], offset, nan[..., 0, :])
