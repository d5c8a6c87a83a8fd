"""Damped-least-squares inverse kinematics for the arms' wrist sites, with joint limits."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dexego.sim.robot_mjcf import ARM_JOINTS


@dataclass(frozen=True)
class IKConfig:
    iterations: int = 8
    damping: float = 0.03
    rotation_weight: float = 0.4  # metres per radian: how much an orientation error counts against a position error
    max_step: float = 0.25  # rad per iteration per joint
    tolerance: float = 5e-4
    posture_gain: float = 0.05  # null-space pull towards the rest posture


class ArmIK:
    """Solves both arms' joint targets for wrist-site targets, on a private MjData (the sim is untouched)."""

    def __init__(self, model: mujoco.MjModel, rest_posture: np.ndarray | None = None, config: IKConfig = IKConfig()):
        self.model = model
        self.data = mujoco.MjData(model)
        self.config = config
        self.sites = [model.site(f"{side}_wrist").id for side in ("left", "right")]
        joints = [[model.joint(f"{side}_{j}") for j in ARM_JOINTS] for side in ("left", "right")]
        self.qpos_adr = [np.array([j.qposadr[0] for j in js]) for js in joints]
        self.dof_adr = [np.array([j.dofadr[0] for j in js]) for js in joints]
        self.lower = [np.array([model.jnt_range[j.id][0] for j in js]) for js in joints]
        self.upper = [np.array([model.jnt_range[j.id][1] for j in js]) for js in joints]
        self.rest = rest_posture if rest_posture is not None else np.zeros((2, len(ARM_JOINTS)))
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, q_arms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(2, 7) arm angles -> wrist positions (2, 3) and rotations (2, 3, 3)."""
        for h in range(2):
            self.data.qpos[self.qpos_adr[h]] = q_arms[h]
        mujoco.mj_kinematics(self.model, self.data)
        return (
            np.stack([self.data.site_xpos[s].copy() for s in self.sites]),
            np.stack([self.data.site_xmat[s].reshape(3, 3).copy() for s in self.sites]),
        )

    def solve(
        self, q_start: np.ndarray, target_pos: np.ndarray, target_rot: np.ndarray, iterations: int | None = None
    ) -> np.ndarray:
        """(2, 7) start angles, (2, 3) target positions, (2, 3, 3) target rotations -> (2, 7) joint targets."""
        cfg = self.config
        q = np.array(q_start, dtype=np.float64, copy=True)
        w = np.array([1.0, 1.0, 1.0, cfg.rotation_weight, cfg.rotation_weight, cfg.rotation_weight])
        quat_err = np.zeros(4)
        quat_cur = np.zeros(4)
        quat_tgt = np.zeros(4)
        rotvec = np.zeros(3)
        for _ in range(iterations or cfg.iterations):
            for h in range(2):
                self.data.qpos[self.qpos_adr[h]] = q[h]
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_comPos(self.model, self.data)
            done = True
            for h in range(2):
                site = self.sites[h]
                err_p = target_pos[h] - self.data.site_xpos[site]
                mujoco.mju_mat2Quat(quat_cur, self.data.site_xmat[site])
                mujoco.mju_mat2Quat(quat_tgt, np.ascontiguousarray(target_rot[h]).reshape(9))
                mujoco.mju_negQuat(quat_err, quat_cur)
                mujoco.mju_mulQuat(quat_err, quat_tgt, quat_err)
                mujoco.mju_quat2Vel(rotvec, quat_err, 1.0)
                err = np.concatenate([err_p, rotvec]) * w
                if np.linalg.norm(err) < cfg.tolerance:
                    continue
                done = False
                mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, site)
                jac = np.vstack([self._jacp[:, self.dof_adr[h]], self._jacr[:, self.dof_adr[h]]]) * w[:, None]
                jjt = jac @ jac.T + cfg.damping**2 * np.eye(6)
                dq = jac.T @ np.linalg.solve(jjt, err)
                pinv = jac.T @ np.linalg.solve(jjt, jac)
                dq += (np.eye(7) - pinv) @ (cfg.posture_gain * (self.rest[h] - q[h]))
                dq = np.clip(dq, -cfg.max_step, cfg.max_step)
                q[h] = np.clip(q[h] + dq, self.lower[h], self.upper[h])
            if done:
                break
        return q
