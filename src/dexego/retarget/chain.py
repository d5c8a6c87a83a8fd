"""A kinematic chain extracted from a robot description (MJCF or URDF) through MuJoCo.

MuJoCo compiles both formats, so one extraction serves every robot: the
bodies between a root body and the sites (or body origins) a caller needs,
their hinge/slide joints with limits, and the joint couplings (MuJoCo joint
equality constraints; URDF ``<mimic>`` tags are also read from the file
for MuJoCo versions whose URDF importer does not turn them into equalities).

URDF files are compiled for kinematics only (:func:`urdf_for_kinematics`):
links attached by fixed joints are kept (MuJoCo would otherwise merge them
into their parents, and the base, palm and fingertip links that hand files
name would vanish), and visual and collision geometry is dropped, so the
meshes a URDF references need not exist — nothing here uses geometry.

MuJoCo's convention, reproduced by :mod:`dexego.retarget.kinematics`: a
body's frame is ``parent @ T(pos, quat)``, then each of its joints in order
applies a rotation about (or a translation along) its axis through its
anchor, by ``q - qpos0``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from dexego.errors import InputError

HINGE, SLIDE = "hinge", "slide"


@dataclass(frozen=True)
class Body:
    name: str
    parent: int  # index in KinematicChain.bodies; -1 for the root
    pos: np.ndarray  # (3,) in the parent frame
    quat: np.ndarray  # (4,) w,x,y,z, parent from body
    joints: tuple[int, ...]  # indices in KinematicChain.joints, applied in order


@dataclass(frozen=True)
class Joint:
    name: str
    kind: str  # "hinge" or "slide"
    body: int
    axis: np.ndarray  # (3,) unit, body frame
    anchor: np.ndarray  # (3,) body frame
    ref: float  # the position at which the body has its nominal pose (MuJoCo qpos0)
    lower: float
    upper: float


@dataclass(frozen=True)
class Coupling:
    """``q[joint] - ref[joint] = sum_k coefficients[k] * (q[driver] - ref[driver]) ** k``."""

    joint: int
    driver: int
    coefficients: tuple[float, ...]


@dataclass(frozen=True)
class Point:
    """A named point rigidly attached to a body (a site, or a body origin plus an offset)."""

    name: str
    body: int
    pos: np.ndarray  # (3,) body frame
    quat: np.ndarray = field(
        default_factory=lambda: np.array([1.0, 0.0, 0.0, 0.0])
    )  # (4,) w,x,y,z body from point (sites have one)


@dataclass(frozen=True)
class KinematicChain:
    """The bodies from ``root`` to the requested points; the root frame is the chain's base frame."""

    source: str
    root: str
    bodies: tuple[Body, ...]  # topological order: parents before children
    joints: tuple[Joint, ...]
    couplings: tuple[Coupling, ...]
    points: tuple[Point, ...]

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def point_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.points)

    @property
    def independent_joints(self) -> tuple[int, ...]:
        """Joints that no coupling drives: the chain's degrees of freedom."""
        coupled = {c.joint for c in self.couplings}
        return tuple(i for i in range(len(self.joints)) if i not in coupled)

    def joint_index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise InputError(
                self.source, "joint", f"no joint {name!r} in the chain (joints: {', '.join(self.joint_names)})"
            ) from None

    def point_index(self, name: str) -> int:
        try:
            return self.point_names.index(name)
        except ValueError:
            raise InputError(self.source, "point", f"no point {name!r} in the chain") from None

    def ancestors_mask(self) -> np.ndarray:
        """(P, J) bool: joint j moves point p."""
        mask = np.zeros((len(self.points), len(self.joints)), dtype=bool)
        for p, point in enumerate(self.points):
            b = point.body
            while b >= 0:
                for j in self.bodies[b].joints:
                    mask[p, j] = True
                b = self.bodies[b].parent
        return mask


@dataclass(frozen=True)
class PointSpec:
    """Where to find a point: a site name, or a body name with an offset in that body's frame."""

    name: str
    site: str | None = None
    body: str | None = None
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


def load_model(path: str | os.PathLike, geometry: bool = False) -> mujoco.MjModel:
    """Compile an MJCF or URDF file; a compile error becomes an InputError naming the file.

    Without ``geometry`` (kinematics only) an MJCF's mesh geoms and meshes are
    dropped before compiling, as URDF meshes always are: they cannot change the
    kinematic tree, and reading them is most of the compile time of a real hand
    (seconds for robosuite's Inspire hand, against a few tens of milliseconds).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "robot description not found")
    try:
        if path.suffix.lower() == ".urdf":
            return mujoco.MjModel.from_xml_string(urdf_for_kinematics(path))
        if geometry:
            return mujoco.MjModel.from_xml_path(str(path))
        spec = mujoco.MjSpec.from_file(str(path))
        for geom in [g for g in spec.geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH]:
            spec.delete(geom)
        for mesh in list(spec.meshes):
            spec.delete(mesh)
        spec.compiler.boundmass, spec.compiler.boundinertia = 1e-6, 1e-12  # mass does not enter kinematics
        return spec.compile()
    except ValueError as exc:
        raise InputError(path, None, f"MuJoCo cannot compile this robot description: {str(exc).strip()}") from None


def urdf_for_kinematics(path: str | os.PathLike) -> str:
    """The URDF's text rewritten for a kinematics-only compile.

    Fixed-joint links stay bodies of their own (``fusestatic="false"``);
    ``<visual>`` and ``<collision>`` elements are removed, so missing or
    ``package://`` meshes are never opened; masses and inertias are bounded
    from below so that links without ``<inertial>`` still compile (MuJoCo
    rejects massless moving bodies; kinematics does not depend on mass).
    """
    path = Path(path)
    try:
        robot = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(path, None, f"not valid XML: {exc}") from None
    if robot.tag != "robot":
        raise InputError(path, None, f"a URDF's top element must be <robot>, got <{robot.tag}>")
    for link in robot.iter("link"):
        for geometry in link.findall("visual") + link.findall("collision"):
            link.remove(geometry)
    block = robot.find("mujoco")
    if block is None:
        block = ET.Element("mujoco")
        robot.insert(0, block)
    compiler = block.find("compiler")
    if compiler is None:
        compiler = ET.SubElement(block, "compiler")
    compiler.attrib.update(fusestatic="false", discardvisual="true", boundmass="1e-6", boundinertia="1e-12")
    return ET.tostring(robot, encoding="unicode")


def load_chain(path: str | os.PathLike, root: str, points: list[PointSpec]) -> KinematicChain:
    """Read the chain from ``root`` to ``points`` out of an MJCF/URDF file."""
    path = Path(path)
    model = load_model(path)
    mimics = urdf_mimics(path) if path.suffix.lower() == ".urdf" else []
    return chain_from_model(model, root, points, source=str(path), extra_couplings=mimics)


def chain_from_model(
    model: mujoco.MjModel,
    root: str,
    points: list[PointSpec],
    source: str = "<model>",
    extra_couplings: list[tuple[str, str, float, float]] | None = None,
    spec_source: str | os.PathLike | None = None,
) -> KinematicChain:
    """Extract the chain from a compiled model. ``extra_couplings``: (joint, driver, multiplier, offset).

    ``spec_source`` is the file that named ``root`` and the points (a hand
    YAML); errors about those names cite it and its field (default: ``source``).
    A point given by ``site`` falls back to the body (URDF link) of that name
    when the model has no such site: URDF files have links, not sites.
    """
    names_from = source if spec_source is None else spec_source
    in_description = "" if spec_source is None else f" of {source}"
    root_id = _body_id(model, root, names_from, "root", in_description)
    resolved: list[tuple[str, int, np.ndarray, np.ndarray]] = []
    for spec in points:
        field_name = f"keypoints.{spec.name}"
        sid = -1 if spec.site is None else mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, spec.site)
        if sid >= 0:
            body = int(model.site_bodyid[sid])
            pos = _site_offset(model, sid) + np.asarray(spec.offset, dtype=np.float64)
            quat = np.asarray(model.site_quat[sid], dtype=np.float64).copy()
        elif spec.site is not None and mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, spec.site) < 0:
            raise InputError(
                names_from,
                field_name,
                f"no site or body (link) named {spec.site!r} in the robot description{in_description}{_known(model, True)}",
            )
        elif spec.site is not None or spec.body is not None:
            body = _body_id(model, spec.body or spec.site, names_from, field_name, in_description)
            pos = np.asarray(spec.offset, dtype=np.float64)
            quat = np.array([1.0, 0.0, 0.0, 0.0])
        else:
            raise InputError(names_from, field_name, "give a site or a body")
        resolved.append((spec.name, body, pos, quat))

    # Keep the bodies on the paths root -> each point (in MuJoCo's order, parents first).
    keep: set[int] = {root_id}
    for name, body, _, _ in resolved:
        path_ids, b = [], body
        while b != root_id:
            if b == 0:
                raise InputError(
                    names_from,
                    f"keypoints.{name}",
                    f"body {model.body(body).name!r} is not below the root body {root!r}: the chain is broken",
                )
            path_ids.append(b)
            b = int(model.body_parentid[b])
        keep.update(path_ids)
    order = sorted(keep)
    index = {mj: i for i, mj in enumerate(order)}

    bodies: list[Body] = []
    joints: list[Joint] = []
    joint_index: dict[int, int] = {}
    for mj in order:
        joint_ids: list[int] = []
        if mj != root_id:  # the root's own joints (a free base) are not part of the chain
            for jid in range(model.body_jntadr[mj], model.body_jntadr[mj] + model.body_jntnum[mj]):
                kind = int(model.jnt_type[jid])
                name = model.joint(jid).name or f"joint{jid}"
                if kind not in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)):
                    raise InputError(
                        source,
                        f"joint {name!r}",
                        "only hinge/revolute and slide/prismatic joints are supported inside a chain",
                    )
                lower, upper = (float(v) for v in model.jnt_range[jid]) if model.jnt_limited[jid] else (-np.inf, np.inf)
                joint_index[jid] = len(joints)
                joint_ids.append(len(joints))
                axis = np.asarray(model.jnt_axis[jid], dtype=np.float64)
                joints.append(
                    Joint(
                        name=name,
                        kind=HINGE if kind == int(mujoco.mjtJoint.mjJNT_HINGE) else SLIDE,
                        body=index[mj],
                        axis=axis / np.linalg.norm(axis),
                        anchor=np.asarray(model.jnt_pos[jid], dtype=np.float64).copy(),
                        ref=float(model.qpos0[model.jnt_qposadr[jid]]),
                        lower=lower,
                        upper=upper,
                    )
                )
        parent = -1 if mj == root_id else index[int(model.body_parentid[mj])]
        bodies.append(
            Body(
                name=model.body(mj).name or f"body{mj}",
                parent=parent,
                pos=np.zeros(3) if mj == root_id else np.asarray(model.body_pos[mj], dtype=np.float64).copy(),
                quat=np.array([1.0, 0, 0, 0])
                if mj == root_id
                else np.asarray(model.body_quat[mj], dtype=np.float64).copy(),
                joints=tuple(joint_ids),
            )
        )

    couplings = _equality_couplings(model, joint_index, joints, source)
    names = [j.name for j in joints]
    driven = {c.joint for c in couplings}
    for joint, driver, multiplier, offset in extra_couplings or []:
        if joint not in names or driver not in names or names.index(joint) in driven:
            continue  # outside this chain, or already an equality (newer MuJoCo imports <mimic> itself)
        couplings.append(Coupling(names.index(joint), names.index(driver), (offset, multiplier)))
    _check_couplings(couplings, joints, source)
    chain_points = tuple(Point(name, index[body], pos, quat) for name, body, pos, quat in resolved)
    return KinematicChain(source, root, tuple(bodies), tuple(joints), tuple(couplings), chain_points)


def _body_id(model: mujoco.MjModel, name: str, source: str | os.PathLike, field: str, in_description: str = "") -> int:
    bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if bid < 0:
        raise InputError(
            source,
            field,
            f"no body (link) named {name!r} in the robot description{in_description}{_known(model, False)}",
        )
    return bid


def _known(model: mujoco.MjModel, with_sites: bool, limit: int = 40) -> str:
    """'; bodies: a, b, ...' (and sites) to help fix a misspelt name."""
    bodies = [model.body(i).name for i in range(1, model.nbody) if model.body(i).name]
    text = "; bodies: " + ", ".join(bodies[:limit]) + (" ..." if len(bodies) > limit else "")
    if with_sites and model.nsite:
        sites = [model.site(i).name for i in range(model.nsite) if model.site(i).name]
        text += "; sites: " + ", ".join(sites[:limit]) + (" ..." if len(sites) > limit else "")
    return text


def _site_offset(model: mujoco.MjModel, sid: int) -> np.ndarray:
    return np.asarray(model.site_pos[sid], dtype=np.float64).copy()


def _equality_couplings(
    model: mujoco.MjModel, joint_index: dict[int, int], joints: list[Joint], source: str
) -> list[Coupling]:
    couplings = []
    for eq in range(model.neq):
        if int(model.eq_type[eq]) != int(mujoco.mjtEq.mjEQ_JOINT):
            continue
        j1, j2 = int(model.eq_obj1id[eq]), int(model.eq_obj2id[eq])
        inside1, inside2 = j1 in joint_index, j2 in joint_index
        if not inside1 and not inside2:
            continue
        name1 = model.joint(j1).name
        if j2 < 0:
            if inside1:
                raise InputError(
                    source,
                    f"equality on joint {name1!r}",
                    "a joint fixed by an equality without a driver joint is not supported",
                )
            continue
        if inside1 != inside2:
            raise InputError(
                source,
                f"equality {name1!r} <- {model.joint(j2).name!r}",
                "couples a joint of the chain to one outside it: the chain is broken",
            )
        coefficients = tuple(float(c) for c in model.eq_data[eq, :5])
        couplings.append(Coupling(joint_index[j1], joint_index[j2], coefficients))
    return couplings


def _check_couplings(couplings: list[Coupling], joints: list[Joint], source: str) -> None:
    driven = {}
    for c in couplings:
        if c.joint in driven:
            raise InputError(source, f"joint {joints[c.joint].name!r}", "is driven by two couplings")
        driven[c.joint] = c.driver
    for start in driven:
        seen, j = {start}, start
        while j in driven:
            j = driven[j]
            if j in seen:
                raise InputError(source, f"joint {joints[start].name!r}", "couplings form a cycle")
            seen.add(j)


def urdf_mimics(path: Path) -> list[tuple[str, str, float, float]]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(path, None, f"not valid XML: {exc}") from None
    mimics = []
    for joint in root.iter("joint"):
        mimic = joint.find("mimic")
        if mimic is None:
            continue
        driver = mimic.get("joint")
        if not driver:
            raise InputError(path, f"joint {joint.get('name')!r}", "<mimic> without a joint attribute")
        mimics.append(
            (joint.get("name", ""), driver, float(mimic.get("multiplier", 1.0)), float(mimic.get("offset", 0.0)))
        )
    return mimics
