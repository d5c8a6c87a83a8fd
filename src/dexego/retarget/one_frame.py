"""One frame per call (a live teleoperation or deployment loop): the same objective and steps, without per-call overhead.

:class:`HandRetargeter` sends a call with a single frame on the CPU here. The
objective, starts and Levenberg-Marquardt steps are those of the batched
solver (``dexego.retarget.hand_retarget``) written for one frame in numpy
float64 on 1-D and 2-D arrays, and the forward kinematics run in MuJoCo's
compiled ``mj_kinematics`` on a model built from the hand's kinematic chain
(root placed at the wrist frame, so its sites come out in the wrist frame).
The point Jacobians are MuJoCo's analytic ones (``mj_jacSite``: a hinge
moves a point by ``axis x (point - anchor)``, a slide by ``axis``).
The profile that motivated it (cProfile, the numpy small-batch path on one
frame) spent a third of each call in the Python loop over bodies of the
forward kinematics and most of the rest in generic batched bookkeeping.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexego.retarget.chain import HINGE, KinematicChain


class MjChainKinematics:
    """Forward kinematics of a chain in MuJoCo: full joints (J,) -> points (P, 3) and their Jacobian, in a given frame."""

    def __init__(self, chain: KinematicChain, frame_from_root: np.ndarray):
        spec = mujoco.MjSpec()
        spec.compiler.degree = False
        spec.compiler.boundmass, spec.compiler.boundinertia = 1e-6, 1e-12
        rot = frame_from_root[:3, :3]
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rot).reshape(-1))
        made = []
        for i, body in enumerate(chain.bodies):
            if body.parent < 0:
                mj_body = spec.worldbody.add_body(name=f"b{i}", pos=frame_from_root[:3, 3], quat=quat)
            else:
                mj_body = made[body.parent].add_body(name=f"b{i}", pos=body.pos, quat=body.quat)
            for j in body.joints:
                joint = chain.joints[j]
                kind = mujoco.mjtJoint.mjJNT_HINGE if joint.kind == HINGE else mujoco.mjtJoint.mjJNT_SLIDE
                mj_body.add_joint(name=f"j{j}", type=kind, axis=joint.axis, pos=joint.anchor, ref=joint.ref)
            made.append(mj_body)
        for p, point in enumerate(chain.points):
            made[point.body].add_site(name=f"p{p}", pos=point.pos, quat=point.quat)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        model = self.model
        self.joint_ids = np.array(
            [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"j{j}") for j in range(len(chain.joints))], dtype=int
        )
        self.qpos_address = model.jnt_qposadr[self.joint_ids].copy()
        self.site_ids = np.array(
            [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, f"p{p}") for p in range(len(chain.points))], dtype=int
        )
        self.sites_in_order = bool((self.site_ids == np.arange(len(self.site_ids))).all())
        # MuJoCo orders degrees of freedom depth-first; the chain orders joints by body. dof -> chain joint:
        self.joint_of_dof = np.argsort(model.jnt_dofadr[self.joint_ids])
        self._jac = {}

    def __call__(self, q_full: np.ndarray, rows: list[int] | None = None):
        """q_full (J,) -> points (P, 3) and d points[rows] / d q (P', 3, J) with its columns in MuJoCo's dof order
        (``joint_of_dof`` gives the chain joint of each column; the solver folds that into the coupling derivative)."""
        model, data = self.model, self.data
        data.qpos[self.qpos_address] = q_full
        mujoco.mj_kinematics(model, data)
        points = data.site_xpos.copy() if self.sites_in_order else data.site_xpos[self.site_ids]
        if rows is None:
            return points, None
        # MuJoCo's analytic point Jacobians (a hinge: axis x (point - anchor); a slide: axis), from the motion dofs.
        mujoco.mj_comPos(model, data)
        key = tuple(rows)
        jac = self._jac.get(key)
        if jac is None:
            jac = self._jac[key] = np.zeros((len(rows), 3, model.nv))
        for i, row in enumerate(rows):
            mujoco.mj_jacSite(model, data, jac[i], None, int(self.site_ids[row]))
        return points, jac.copy()


class OneFrameSolver:
    """The batched solver's objective and steps for a single frame; built once per :class:`HandRetargeter`."""

    def __init__(self, retargeter):
        hand = retargeter.hand
        self.config = retargeter.config
        self.joint_map = hand.joint_map
        self.kinematics = MjChainKinematics(hand.chain, hand.wrist_from_root.detach().cpu().double().numpy())
        const = retargeter._constants(np, None)
        self.terms = const["terms"]  # (R, K)
        self.used = list(const["used"])
        self.used_terms = const["used_terms"]  # (R, K')
        self.keypoint_indices = list(hand.keypoint_indices)
        self.tip_indices = list(hand.tip_indices)
        self.tip_rows = list(hand.tip_rows)
        self.lower, self.upper = (x.detach().cpu().double().numpy() for x in (hand.lower, hand.upper))
        self.middle = hand.joint_map.middle_numpy()
        self.num_act = hand.num_joints
        self.linear = hand.joint_map.linear
        self.joint_of_dof = self.kinematics.joint_of_dof
        if self.linear:
            self.offset, self.slope = hand.joint_map._numpy_affine()
            self.slope_dof = self.slope[self.joint_of_dof]
        self.identity = np.eye(self.num_act)
        # Grid tables per joint group: (joints, rows, candidate joints (G, A), table (2 R'*3, G)).
        rows = self.terms.shape[0]
        self.grids = []
        for joints, group_rows, candidates, table in retargeter._grids(np):
            coords = (np.asarray(group_rows)[:, None] * 3 + np.arange(3)).reshape(-1)
            # rows of the feature vector [known (R*3), -2 * target * known (R*3)] this group's table reads
            self.grids.append(
                (np.asarray(joints), np.concatenate([coords, rows * 3 + coords]), candidates[:, joints], table)
            )
        self.row_uses = (self.terms != 0).astype(np.float64)  # (R, K)
        # d residual rows / d used keypoints as one matrix: (R, K') applied to (K', 3 * J)
        self.num_used = len(self.used)

    def _full(self, q):
        """Actuated (A,) -> every joint (J,) and d full / d actuated with its rows in MuJoCo's dof order (J, A)."""
        if self.linear:
            return self.slope @ q + self.offset, self.slope_dof
        q_full, dfull = self.joint_map(q[None], derivative=True)
        return q_full[0], dfull[0][self.joint_of_dof]

    def evaluate(self, q, target_rows, weights):
        """q (A,) -> residual (R*3,), its Jacobian (R*3, A), every mapped keypoint (K, 3)."""
        q_full, dfull = self._full(q)
        points, jac = self.kinematics(q_full, self.used)
        residual = (self.used_terms @ points[self.used] - target_rows) * weights[:, None]
        jac_act = (jac.reshape(-1, jac.shape[-1]) @ dfull).reshape(self.num_used, -1)  # (K', 3 * A)
        jac_rows = (self.used_terms @ jac_act) * weights[:, None]  # (R, 3 * A)
        return residual.reshape(-1), jac_rows.reshape(-1, self.num_act), points

    def grid_start(self, target_rows, row_known, q):
        q = q.copy()
        known = np.repeat(row_known.astype(np.float64), 3)
        features = np.concatenate([known, -2 * target_rows.reshape(-1) * known])
        for joints, index, candidates, table in self.grids:
            q[joints] = candidates[(features[index] @ table).argmin()]
        return q

    def clamp(self, q):
        return np.minimum(np.maximum(q, self.lower), self.upper)

    def solve(self, targets: np.ndarray, valid: bool, previous: np.ndarray | None, guess: np.ndarray | None):
        """targets (21, 3) -> joints (A,) (NaN on an invalid frame), mean fingertip error, per-fingertip errors, iterations."""
        cfg, num_act = self.config, self.num_act
        tip_targets = targets[self.tip_indices]
        if not (valid and np.isfinite(tip_targets).all()):
            nan = np.full(len(self.tip_indices), np.nan)
            return np.full(num_act, np.nan), float("nan"), nan, 0
        mine = targets[self.keypoint_indices]
        known = np.isfinite(mine).all(-1)
        mine = np.where(known[:, None], mine, 0.0)
        row_known = self.row_uses @ (~known) == 0  # (R,)
        weights = row_known.astype(np.float64)
        target_rows = self.terms @ mine
        lam = cfg.smoothness
        count = 0.0 if previous is None else 1.0  # the previous frame is this frame's one neighbour
        nb_sum = np.zeros(num_act) if previous is None else previous

        def cost(residual, q):
            return residual @ residual + lam * (count * (q @ q) - 2 * (q @ nb_sum))

        if previous is not None:
            starts = [self.clamp(previous)]
            if guess is not None:
                starts.append(self.clamp(np.where(np.isfinite(guess), guess, starts[0])))
            if cfg.grid_candidates > 0:
                starts.append(self.grid_start(target_rows, row_known, starts[0]))
            best = None
            for start in starts:
                residual, jac, points = self.evaluate(start, target_rows, weights)
                value = cost(residual, start)
                if best is None or value < best[0]:
                    best = (value, start, residual, jac, points)
            _, q, residual, jac, points = best
        else:
            q = self.clamp(self.middle if guess is None else np.where(np.isfinite(guess), guess, self.middle))
            if guess is None and cfg.grid_candidates > 0:
                q = self.grid_start(target_rows, row_known, q)
            residual, jac, points = self.evaluate(q, target_rows, weights)
        mu = cfg.damping
        cost_tolerance = cfg.warm_cost_tolerance if previous is not None else 0.0
        current = cost(residual, q)
        iterations = 0
        for iterations in range(1, cfg.iterations + 1):  # noqa: B007 (the count is read after the loop)
            grad = jac.T @ residual + lam * (count * q - nb_sum)
            normal = jac.T @ jac
            normal[np.diag_indices(num_act)] += lam * count
            damped = normal + np.diag(mu * (np.diagonal(normal) + 1e-9))
            step = -np.linalg.solve(damped, grad)
            if cost_tolerance > 0 and -(2 * (step @ grad) + step @ normal @ step) < cost_tolerance:
                break
            candidate = self.clamp(q + step)
            new_residual, new_jac, new_points = self.evaluate(candidate, target_rows, weights)
            new_cost = cost(new_residual, candidate)
            decrease = current - new_cost
            if decrease >= 0:
                q, residual, jac, points, current = candidate, new_residual, new_jac, new_points, new_cost
                mu = max(mu * 0.3, 1e-9)
            else:
                mu = min(mu * 4.0, 1e9)
            if np.abs(step).max() < cfg.tolerance or (decrease >= 0 and decrease < cost_tolerance):
                break
        tip_error = np.linalg.norm(points[self.tip_rows] - tip_targets, axis=-1)
        return q, float(tip_error.mean()), tip_error, iterations
