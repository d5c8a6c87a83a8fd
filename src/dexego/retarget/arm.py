"""Arm: wrist pose -> end-effector pose (a calibrated fixed transform) -> joints by batched damped least squares.

Generic over any MJCF/URDF chain from a root body to an end-effector site.
The fixed transform between the end effector and the hand's wrist frame
(``dexego.hands.hand_frame`` of the palm sites) is read from the model at
its reference pose, so a human wrist pose maps onto the robot through the
same wrist frame the hand retargeter uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from dexego.errors import ConfigError, InputError
from dexego.geometry.rotations import matrix_to_axis_angle
from dexego.geometry.transforms import invert_transform, make_transform
from dexego.hands.frame import hand_frame
from dexego.retarget.chain import PointSpec, chain_from_model
from dexego.retarget.joint_map import JointMap
from dexego.retarget.kinematics import ChainKinematics
from dexego.retarget.solve import solve_spd

PALM_KEYPOINTS = ("wrist", "index_mcp", "middle_mcp", "little_mcp")
_PALM_INDEX = {"wrist": 0, "index_mcp": 5, "middle_mcp": 9, "little_mcp": 17}


@dataclass(frozen=True)
class ArmIKConfig:
    """Damped-least-squares arm IK settings: iterations, damping, rotation weight, step size."""

    iterations: int = 100
    damping: float = 0.05  # lambda of damped least squares
    rotation_weight: float = 0.3  # metres per radian: an orientation error's weight against a position error
    max_step: float = 0.3  # rad per joint per iteration
    position_tolerance: float = 0.005  # m: frames above are flagged unreachable
    rotation_tolerance: float = 0.05  # rad

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ConfigError(f"arm IK iterations must be >= 0, got {self.iterations}")
        for name in ("damping", "rotation_weight", "max_step", "position_tolerance", "rotation_tolerance"):
            if not getattr(self, name) > 0:  # also rejects NaN
                raise ConfigError(f"arm IK {name} must be > 0, got {getattr(self, name)}")


@dataclass
class ArmIKResult:
    """Arm IK solutions with their position and rotation errors and which targets were finite."""

    joints: torch.Tensor  # (..., n); NaN where the target was not finite
    position_error: torch.Tensor  # (..., ) m
    rotation_error: torch.Tensor  # (..., ) rad
    valid: torch.Tensor  # (..., ) bool: the target was finite
    reachable: torch.Tensor  # (..., ) bool: valid and within the tolerances
    joint_names: tuple[str, ...]


class RobotArm:
    """One arm: kinematics from ``root`` to the ``end_effector`` site, and its wrist calibration."""

    def __init__(
        self,
        model: mujoco.MjModel,
        root: str,
        end_effector: str,
        side: str,
        palm_sites: dict[str, str] | None = None,
        joints: tuple[str, ...] | None = None,
        source: str = "<model>",
        config: ArmIKConfig | None = None,
    ):
        self.source = source
        self.side = side
        self.config = config or ArmIKConfig()
        self.chain = chain_from_model(model, root, [PointSpec("end_effector", site=end_effector)], source=source)
        if joints is not None and tuple(joints) != self.chain.joint_names:
            raise InputError(
                source,
                "arm joints",
                f"the chain {root!r} -> {end_effector!r} has joints {self.chain.joint_names}, not {tuple(joints)}",
            )
        self.joint_map = JointMap(self.chain, dtype=torch.float64)
        self.kinematics = ChainKinematics(self.chain, dtype=torch.float64)
        self.ee_from_wrist = torch.eye(4, dtype=torch.float64)
        if palm_sites is not None:
            self.ee_from_wrist = self._calibrate(model, root, end_effector, palm_sites)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.joint_map.names

    def _calibrate(
        self, model: mujoco.MjModel, root: str, end_effector: str, palm_sites: dict[str, str]
    ) -> torch.Tensor:
        missing = [k for k in PALM_KEYPOINTS if k not in palm_sites]
        if missing:
            raise InputError(self.source, "palm_sites", f"missing {', '.join(missing)}")
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        points = np.full((21, 3), np.nan)
        for name, site in palm_sites.items():
            sid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
            if sid < 0:
                raise InputError(self.source, f"palm_sites.{name}", f"no site named {site!r}")
            points[_PALM_INDEX[name]] = data.site_xpos[sid]
        world_from_wrist = hand_frame(torch.tensor(points), self.side)
        ee = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, end_effector)
        world_from_ee = make_transform(
            torch.tensor(data.site_xmat[ee].reshape(3, 3).copy()), torch.tensor(data.site_xpos[ee].copy())
        )
        return invert_transform(world_from_ee) @ world_from_wrist

    def end_effector_pose(self, q: torch.Tensor) -> torch.Tensor:
        """(..., n) -> (..., 4, 4) root from end effector."""
        q = torch.as_tensor(q, dtype=torch.float64)
        pose = self.kinematics(self.joint_map(q)[0])
        return make_transform(pose.point_rotations(self.kinematics)[..., 0, :, :], pose.points[..., 0, :])

    def wrist_pose(self, q: torch.Tensor) -> torch.Tensor:
        """(..., n) -> (..., 4, 4) root from the hand's wrist frame."""
        return self.end_effector_pose(q) @ self.ee_from_wrist

    def wrist_to_end_effector(self, root_from_wrist: torch.Tensor) -> torch.Tensor:
        """A wrist-frame pose (..., 4, 4) -> the end-effector pose that puts the robot's wrist frame there."""
        return torch.as_tensor(root_from_wrist, dtype=torch.float64) @ invert_transform(self.ee_from_wrist)

    def solve(
        self, target: np.ndarray | torch.Tensor, init: np.ndarray | torch.Tensor | None = None, wrist: bool = True
    ) -> ArmIKResult:
        """IK for targets (..., 4, 4) in the root frame: wrist-frame poses (``wrist=True``) or end-effector poses.

        ``init`` (..., n) or (n,) warm-starts the solver (e.g. the previous
        frame's joints); default: the middle of the joint ranges.
        """
        cfg = self.config
        target = torch.as_tensor(target, dtype=torch.float64)
        if target.shape[-2:] != (4, 4):
            raise ValueError(f"targets must have shape (..., 4, 4), got {tuple(target.shape)}")
        if wrist:
            target = self.wrist_to_end_effector(target)
        batch = target.shape[:-2]
        target = target.reshape(-1, 4, 4)
        valid = torch.isfinite(target).all(-1).all(-1)
        target = torch.where(valid[:, None, None], target, torch.eye(4, dtype=torch.float64))
        n = self.joint_map.num_actuated
        q = (
            self.joint_map.middle().expand(target.shape[0], n).clone()
            if init is None
            else torch.as_tensor(init, dtype=torch.float64).expand(batch + (n,)).reshape(-1, n).clone()
        )
        q = self.joint_map.clamp(torch.where(torch.isfinite(q), q, self.joint_map.middle()))
        weight = torch.tensor([1.0] * 3 + [cfg.rotation_weight] * 3, dtype=torch.float64)
        eye6 = torch.eye(6, dtype=torch.float64)
        for _ in range(cfg.iterations):
            error, jac = self._error_and_jacobian(q, target)
            error, jac = error * weight, jac * weight[:, None]
            # dq = J^T (J J^T + lambda^2 I)^-1 e
            y = solve_spd(jac @ jac.transpose(-1, -2) + cfg.damping**2 * eye6, error)
            step = (jac.transpose(-1, -2) @ y.unsqueeze(-1))[..., 0]
            step = step.clamp(-cfg.max_step, cfg.max_step)
            q = self.joint_map.clamp(q + step)
            if float(step.abs().max()) < 1e-7:
                break
        error, _ = self._error_and_jacobian(q, target)
        pos_err, rot_err = error[:, :3].norm(dim=-1), error[:, 3:].norm(dim=-1)
        reachable = valid & (pos_err <= cfg.position_tolerance) & (rot_err <= cfg.rotation_tolerance)
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        q = torch.where(valid[:, None], q, nan)
        return ArmIKResult(
            joints=q.reshape(batch + (n,)),
            position_error=torch.where(valid, pos_err, nan).reshape(batch),
            rotation_error=torch.where(valid, rot_err, nan).reshape(batch),
            valid=valid.reshape(batch),
            reachable=reachable.reshape(batch),
            joint_names=self.joint_names,
        )

    def _error_and_jacobian(self, q: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q_full, dfull = self.joint_map(q, derivative=True)
        pose = self.kinematics(q_full, jacobian=True)
        rot = pose.point_rotations(self.kinematics)[:, 0]
        pos_err = target[:, :3, 3] - pose.points[:, 0]
        rot_err = matrix_to_axis_angle(target[:, :3, :3] @ rot.transpose(-1, -2))
        hinge = torch.tensor(self.kinematics.joint_is_hinge, dtype=torch.float64)
        angular = (pose.axes * (hinge * self.kinematics.moves[0])[:, None]).transpose(-1, -2)  # (N, 3, J)
        jac = torch.cat([pose.jacobian[:, 0], angular], dim=-2) @ dfull
        return torch.cat([pos_err, rot_err], -1), jac
