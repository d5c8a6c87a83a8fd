"""A robot hand: its kinematic chain plus the keypoint correspondence (a small YAML file).

The YAML names which sites (or body origins) play the role of dexego's
21 hand keypoints. The wrist and the index, middle and little MCPs are
required — they define the wrist frame through ``dexego.hands.hand_frame``,
exactly as for human hands; on a hand without those fingers they are
points on the palm — and so is at least one fingertip (a hand with fewer
than five fingers maps the ones it has)::

    name: my_hand_right
    side: right
    description: my_hand_right.xml    # MJCF or URDF, relative to this file
    root: hand_base                   # the palm body (URDF: base link); its own joints (a free base) are ignored
    actuated: [thumb_yaw, ...]        # optional: default = every joint no coupling drives
    keypoints:
      wrist: wrist_site               # a site name, or (no such site) a body / URDF link name: its origin
      index_mcp: {body: index_proximal, offset: [0, 0, 0]}   # metres, in that body's frame
      ...
      thumb_tip: thumb_tip_site

docs/retarget.md describes every key, with a complete three-finger URDF example.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch
import yaml

from dexego.errors import InputError
from dexego.geometry.transforms import apply_transform, invert_transform
from dexego.hands.frame import FRAME_KEYPOINTS, hand_frame
from dexego.hands.layout import FINGERTIPS, KEYPOINT_INDEX, KEYPOINT_NAMES, SIDES
from dexego.retarget.arrays import namespace, numpy_buffers
from dexego.retarget.chain import KinematicChain, PointSpec, chain_from_model, load_model, urdf_mimics
from dexego.retarget.joint_map import JointMap
from dexego.retarget.kinematics import ChainKinematics
from dexego.retarget.packaged import resolve_description

REQUIRED_KEYPOINTS = tuple(FRAME_KEYPOINTS.values())  # and at least one of FINGERTIPS
# A typical adult hand length (wrist -> middle MCP -> along the straight middle finger to its tip);
# used to scale human hands when only fingertips are known.
HUMAN_HAND_LENGTH = 0.18


@dataclass(frozen=True)
class HandSpec:
    """The parsed keypoint-correspondence file."""

    name: str
    side: str
    description: str  # path of the MJCF/URDF
    root: str
    keypoints: tuple[PointSpec, ...]  # named after dexego keypoints
    actuated: tuple[str, ...] | None = None
    human_hand_length: float = HUMAN_HAND_LENGTH
    origin: str = "<dict>"  # the hand file, cited by errors about the names it gives


def parse_hand_spec(data: dict[str, Any], origin: str | os.PathLike, base_dir: Path | None = None) -> HandSpec:
    """Validate a keypoint-correspondence mapping (as read from YAML)."""
    if not isinstance(data, dict):
        raise InputError(origin, None, "expected a mapping at the top level")
    known = {"name", "side", "description", "root", "keypoints", "actuated", "human_hand_length"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(origin, unknown[0], f"unknown key; valid keys: {', '.join(sorted(known))}")
    for key in ("name", "side", "description", "root", "keypoints"):
        if key not in data:
            raise InputError(origin, key, "missing")
    if data["side"] not in SIDES:
        raise InputError(origin, "side", f"must be 'left' or 'right', got {data['side']!r}")
    raw = data["keypoints"]
    if not isinstance(raw, dict):
        raise InputError(origin, "keypoints", "expected a mapping from keypoint names to sites or bodies")
    points = []
    for name, value in raw.items():
        if name not in KEYPOINT_INDEX:
            raise InputError(origin, f"keypoints.{name}", f"unknown keypoint; valid: {', '.join(KEYPOINT_NAMES)}")
        if isinstance(value, str):
            points.append(PointSpec(name, site=value))
        elif (
            isinstance(value, dict)
            and set(value) <= {"site", "body", "offset"}
            and (("site" in value) != ("body" in value))
        ):
            offset = value.get("offset", (0.0, 0.0, 0.0))
            if not (isinstance(offset, (list, tuple)) and len(offset) == 3):
                raise InputError(origin, f"keypoints.{name}.offset", "expected three numbers")
            points.append(
                PointSpec(name, site=value.get("site"), body=value.get("body"), offset=tuple(float(v) for v in offset))
            )
        else:
            raise InputError(
                origin, f"keypoints.{name}", "expected a site name or {site: NAME} / {body: NAME, offset: [x, y, z]}"
            )
    missing = [KEYPOINT_NAMES[i] for i in REQUIRED_KEYPOINTS if KEYPOINT_NAMES[i] not in raw]
    if missing:
        raise InputError(origin, "keypoints", f"missing required keypoint(s): {', '.join(missing)}")
    if not any(KEYPOINT_NAMES[k] in raw for k in FINGERTIPS):
        raise InputError(
            origin, "keypoints", f"map at least one fingertip ({', '.join(KEYPOINT_NAMES[k] for k in FINGERTIPS)})"
        )
    description = resolve_description(data["description"], origin, base_dir)
    actuated = data.get("actuated")
    if actuated is not None and not (isinstance(actuated, list) and all(isinstance(a, str) for a in actuated)):
        raise InputError(origin, "actuated", "expected a list of joint names")
    return HandSpec(
        name=str(data["name"]),
        side=data["side"],
        description=description,
        root=str(data["root"]),
        keypoints=tuple(points),
        actuated=None if actuated is None else tuple(actuated),
        human_hand_length=float(data.get("human_hand_length", HUMAN_HAND_LENGTH)),
        origin=str(origin),
    )


def load_hand_spec(path: str | os.PathLike) -> HandSpec:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "hand file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(path, None, f"not valid YAML: {exc}") from None
    return parse_hand_spec(data, path, base_dir=path.parent)


class RobotHand(torch.nn.Module):
    """Kinematics of one robot hand in ITS wrist frame (the frame ``hand_frame`` gives its keypoints).

    ``keypoints(q)`` returns the mapped keypoints (``keypoint_indices`` says
    which of the 21) in the wrist frame; ``jacobian=True`` adds their
    derivative with respect to the actuated joints.
    """

    def __init__(self, spec: HandSpec, chain: KinematicChain, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.spec = spec
        self.name = spec.name
        self.side = spec.side
        self.chain = chain
        self.keypoint_indices = tuple(KEYPOINT_INDEX[p.name] for p in chain.points)
        unknown = [n for n in spec.actuated or () if n not in chain.joint_names]
        if unknown:
            raise InputError(
                spec.origin,
                "actuated",
                f"no joint {unknown[0]!r} in the chain (joints: {', '.join(chain.joint_names)})",
            )
        actuated = None if spec.actuated is None else tuple(chain.joint_index(n) for n in spec.actuated)
        self.joint_map = JointMap(chain, actuated, dtype=dtype)
        self.kinematics = ChainKinematics(chain, dtype=dtype)
        self.dtype = dtype
        frame_rows = [self.keypoint_indices.index(k) for k in FRAME_KEYPOINTS.values()]
        moved = self._moving_rows(frame_rows)
        if moved:
            names = ", ".join(KEYPOINT_NAMES[self.keypoint_indices[r]] for r in moved)
            raise InputError(
                spec.origin, "keypoints", f"wrist-frame keypoint(s) {names} move with the joints: put them on the palm"
            )
        # The fingertips this hand maps (all five on a five-finger hand), in FINGERTIPS order.
        self.tip_indices = tuple(k for k in FINGERTIPS if k in self.keypoint_indices)
        self.tip_rows = tuple(self.keypoint_indices.index(k) for k in self.tip_indices)
        with torch.no_grad():
            rest = self.kinematics(self.joint_map(self.joint_map.middle().double().to(dtype))[0]).points.double()
            full = torch.full((21, 3), float("nan"), dtype=torch.float64)
            full[list(self.keypoint_indices)] = rest
            root_from_wrist = hand_frame(full, self.side)
        if not torch.isfinite(root_from_wrist).all() or _degenerate(full):
            raise InputError(
                spec.origin,
                "keypoints",
                "wrist, index/middle/little MCP do not span a plane: cannot build the wrist frame",
            )
        self.register_buffer("root_from_wrist", root_from_wrist.to(dtype))
        self.register_buffer("wrist_from_root", invert_transform(root_from_wrist).to(dtype))
        self.palm_length = float((full[9] - full[0]).norm())
        self.hand_length = self.palm_length + self._longest_middle_finger()

    def _longest_middle_finger(self) -> float:
        """The largest middle MCP -> middle tip distance over sampled configurations (the straight finger).

        Without a middle finger: the longest of the mapped non-thumb fingers, from the middle MCP (palm) point.
        """
        gen = torch.Generator().manual_seed(1)
        lower, upper = self.joint_map.lower.double(), self.joint_map.upper.double()
        finite = torch.isfinite(lower) & torch.isfinite(upper)
        lo, hi = (
            torch.where(finite, lower, -torch.pi * torch.ones_like(lower)),
            torch.where(finite, upper, torch.pi * torch.ones_like(upper)),
        )
        q = torch.cat(
            [lo[None], hi[None], lo + (hi - lo) * torch.rand(254, len(lo), generator=gen, dtype=torch.float64)]
        )
        with torch.no_grad():
            points = self.kinematics(self.joint_map(q.to(self.dtype))[0]).points.double()
        mcp = self.keypoint_indices.index(9)
        fingers = (
            [12]
            if 12 in self.tip_indices
            else [k for k in self.tip_indices if k != FINGERTIPS[0]] or list(self.tip_indices)
        )
        tips = [self.keypoint_indices.index(k) for k in fingers]
        return float((points[:, tips] - points[:, mcp, None]).norm(dim=-1).max())

    def _moving_rows(self, rows: list[int]) -> list[int]:
        """Rows among ``rows`` whose points move at some of a few sampled configurations."""
        gen = torch.Generator().manual_seed(0)
        lower, upper = self.joint_map.lower.double(), self.joint_map.upper.double()
        finite = torch.isfinite(lower) & torch.isfinite(upper)
        lo, hi = torch.where(finite, lower, -torch.ones_like(lower)), torch.where(finite, upper, torch.ones_like(upper))
        q = lo + (hi - lo) * torch.rand(8, len(lower), generator=gen, dtype=torch.float64)
        q_full, dfull = self.joint_map(q.to(self.dtype), derivative=True)
        jac = self.kinematics(q_full, jacobian=True).jacobian @ dfull.unsqueeze(-3)
        size = jac[:, rows].abs().amax(dim=(0, 2, 3))
        return [r for r, s in zip(rows, size.tolist()) if s > 1e-6]

    @classmethod
    def from_spec(
        cls, spec: HandSpec, model: mujoco.MjModel | None = None, dtype: torch.dtype = torch.float32
    ) -> RobotHand:
        """Build from a spec; ``model`` overrides loading ``spec.description`` (e.g. an MJCF generated in code)."""
        mimics: list = []
        if model is None:
            model = load_model(spec.description)
            if spec.description.lower().endswith(".urdf"):
                mimics = urdf_mimics(Path(spec.description))
        chain = chain_from_model(
            model,
            spec.root,
            list(spec.keypoints),
            source=spec.description,
            extra_couplings=mimics,
            spec_source=spec.origin,
        )
        return cls(spec, chain, dtype=dtype)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> RobotHand:
        return cls.from_spec(load_hand_spec(path), dtype=dtype)

    # -- joints --------------------------------------------------------------------------------------------------
    @property
    def joint_names(self) -> tuple[str, ...]:
        """The actuated joints, in the order of every joint vector this hand takes or returns."""
        return self.joint_map.names

    @property
    def num_joints(self) -> int:
        return self.joint_map.num_actuated

    @property
    def lower(self) -> torch.Tensor:
        return self.joint_map.lower

    @property
    def upper(self) -> torch.Tensor:
        return self.joint_map.upper

    def full_joints(self, q: torch.Tensor) -> torch.Tensor:
        """Actuated (..., A) -> every joint of the chain (..., J) through the couplings."""
        return self.joint_map(q)[0]

    # -- kinematics ------------------------------------------------------------------------------------------------
    def keypoints(
        self, q, jacobian: bool = False, rows: tuple[int, ...] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(..., A) -> mapped keypoints (..., K, 3) in the wrist frame [, d/dq (..., K', 3, A) for ``rows`` (default all)].

        A numpy ``q`` is computed in numpy float64 (the small-batch path), anything else in torch at ``dtype``.
        """
        numpy = isinstance(q, np.ndarray)
        q = q.astype(np.float64, copy=False) if numpy else torch.as_tensor(q, dtype=self.dtype)
        q_full, dfull = self.joint_map(q, derivative=jacobian and not self.joint_map.linear)
        pose = self.kinematics(q_full, jacobian=jacobian, dense=False)
        wrist_from_root = numpy_buffers(self)["wrist_from_root"] if numpy else self.wrist_from_root
        rot = wrist_from_root[:3, :3]
        points = pose.points @ rot.T + wrist_from_root[:3, 3]
        if not jacobian:
            return points, None
        rows = tuple(range(len(self.keypoint_indices))) if rows is None else tuple(rows)
        pairs, selection = self._jacobian_layout(rows, "numpy" if numpy else q.device)
        columns = self.kinematics.jacobian_columns(pose, pairs) @ rot.T  # (..., P, 3) in the wrist frame
        batch = q.shape[:-1]
        xp = namespace(q)
        if self.joint_map.linear:
            # One product maps the (point, joint) columns straight to actuated joints through the couplings.
            jac = (xp.swapaxes(columns, -1, -2) @ selection).reshape(batch + (3, len(rows), self.num_joints))
            return points, xp.swapaxes(jac, -2, -3)
        dense = (
            xp.zeros(batch + (len(rows), 3, len(self.chain.joints)), dtype=columns.dtype)
            if numpy
            else columns.new_zeros(batch + (len(rows), 3, len(self.chain.joints)))
        )
        for k, (p, j) in enumerate(pairs):
            dense[..., rows.index(p), :, j] = columns[..., k, :]
        return points, dense @ dfull[..., None, :, :]

    def _jacobian_layout(self, rows: tuple[int, ...], device) -> tuple[list[tuple[int, int]], torch.Tensor]:
        """(point, joint) pairs where the joint moves the point, and their map to (row, actuated joint).

        ``device`` "numpy": the map as a float64 numpy array.
        """
        key = (rows, str(device))
        cache = self.__dict__.setdefault("_layouts", {})
        if key not in cache:
            moves = self.chain.ancestors_mask()
            pairs = [(p, j) for p in rows for j in range(len(self.chain.joints)) if moves[p, j]]
            _, dfull = self.joint_map(self.joint_map.middle(), derivative=True)
            selection = torch.zeros(len(pairs), len(rows) * self.num_joints, dtype=self.dtype)
            for k, (p, j) in enumerate(pairs):
                r = rows.index(p)
                selection[k, r * self.num_joints : (r + 1) * self.num_joints] = dfull[j]
            cache[key] = (pairs, selection.double().numpy() if device == "numpy" else selection.to(device))
        return cache[key]

    def fingertips(self, q: torch.Tensor) -> torch.Tensor:
        """(..., A) -> (..., F, 3): the mapped fingertips (``tip_indices``, thumb to little), in the wrist frame."""
        return self.keypoints(q)[0][..., list(self.tip_rows), :]

    def keypoints21(self, q: torch.Tensor) -> torch.Tensor:
        """(..., A) -> (..., 21, 3) in the wrist frame, NaN for keypoints the hand does not map."""
        points = self.keypoints(q)[0]
        full = torch.full(points.shape[:-2] + (21, 3), float("nan"), dtype=points.dtype, device=points.device)
        full[..., list(self.keypoint_indices), :] = points
        return full

    def keypoints21_world(self, q: torch.Tensor, world_from_wrist: torch.Tensor) -> torch.Tensor:
        """Keypoints placed by a wrist pose (..., 4, 4)."""
        return apply_transform(torch.as_tensor(world_from_wrist, dtype=self.dtype), self.keypoints21(q))

    def human_scale(self, human_hand_length: float | torch.Tensor | None = None) -> float | torch.Tensor:
        """Factor that maps human hand distances onto this hand: robot / human hand length
        (wrist -> middle MCP plus the straight middle finger)."""
        return self.hand_length / (self.spec.human_hand_length if human_hand_length is None else human_hand_length)


def _degenerate(points: torch.Tensor) -> bool:
    to_index, to_middle, to_little = (points[k] - points[0] for k in (5, 9, 17))
    if to_middle.norm() < 1e-6:
        return True
    normal = torch.linalg.cross(to_index, to_little, dim=-1)
    return bool(normal.norm() < 1e-9)
