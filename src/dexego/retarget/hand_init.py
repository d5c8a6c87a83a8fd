"""A hand file proposed from the robot description alone (``dexego retarget init-hand``), and its check (``check-hand``).

``propose_hand(description, side)`` reads an MJCF or URDF and chooses, printing why:

- **root**: the lowest body above every joint (the palm), then up through bodies attached without joints as long as
  they have names (the mount where the hand meets an arm or the world); the **wrist** is its origin;
- **fingers**: the branches of the tree below the root that hold joints; named after the fingers their body and joint
  names mention (``thumb``, ``index``, ``middle``, ``ring``, ``little``/``pinky``), otherwise by geometry: the
  thumb is the branch whose first joint sits nearest the wrist, and the others are index, middle, ring, little along
  the row of their first joints, from the end nearer the thumb;
- **fingertips**: a site or body of the branch named like a tip (``tip`` in its name) when there is one, otherwise
  the far end of the distal link's geometry (collision geoms first, then visual ones): the centre of its points within
  2 mm of the largest distance from the link's joint; otherwise the distal link's origin;
- **MCPs**: the position of each finger's first joint (on the palm, so the wrist frame does not move); a missing
  little (or middle) MCP is extrapolated on the palm from the ones there are, in human proportions;
- **actuated joints and couplings** as the description defines them (joint equalities, URDF ``<mimic>``);
- **side**: ``--side``, else left/right in the names, checked against the way the fingers curl.

``check_hand(hand)`` samples joint configurations and reports each fingertip's reach, the round trip joints -> FK ->
retarget, and how still the wrist frame stays; ``render_hand`` draws the hand at a few poses with its keypoints.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np
import torch
import yaml

from dexego.errors import InputError
from dexego.hands.layout import FINGERTIPS, KEYPOINT_NAMES

FINGERS = ("thumb", "index", "middle", "ring", "little")
FAR_END = 0.002  # m: a fingertip is the centre of the distal geometry's points this close to its largest distance
FINGER_WORDS = {
    "thumb": ("thumb",),
    "index": ("index", "first", "ff"),
    "middle": ("middle", "mf"),
    "ring": ("ring", "rf"),
    "little": ("little", "pinky", "lf"),
}


@dataclass
class Proposal:
    """The proposed hand file (``data``, as written to YAML) and the reasons for each choice."""

    data: dict
    reasons: list[str] = field(default_factory=list)


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9]+", name.lower()) if t}


def _name_side(model: mujoco.MjModel) -> str | None:
    votes = {"left": 0, "right": 0}
    names = [model.body(i).name for i in range(model.nbody)] + [model.joint(i).name for i in range(model.njnt)]
    for name in names:
        tokens = _tokens(name)
        low = name.lower()
        if "left" in tokens or low.startswith(("l_", "lh_", "left")):
            votes["left"] += 1
        if "right" in tokens or low.startswith(("r_", "rh_", "right")):
            votes["right"] += 1
    if votes["left"] == votes["right"]:
        return None
    return max(votes, key=votes.get)


def _distribution_form(path: Path) -> dict | str:
    """``{distribution, file}`` when the file belongs to an installed distribution's file list, else the path."""
    parts = path.resolve().parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            inside = Path(*parts[parts.index(marker) + 1 :])
            top = inside.parts[0]
            for dist in importlib.metadata.packages_distributions().get(top, []):
                files = {str(f).replace("\\", "/") for f in importlib.metadata.distribution(dist).files or ()}
                if inside.as_posix() in files:
                    return {"distribution": dist, "file": inside.as_posix()}
    return str(path.resolve())


def _geom_points(model: mujoco.MjModel, geom: int) -> np.ndarray:
    """Points of a geom's surface (mesh vertices; a primitive's corners / end caps), in its body's frame."""
    kind = int(model.geom_type[geom])
    size = model.geom_size[geom]
    if kind == int(mujoco.mjtGeom.mjGEOM_MESH):
        mesh = int(model.geom_dataid[geom])
        local = model.mesh_vert[model.mesh_vertadr[mesh] : model.mesh_vertadr[mesh] + model.mesh_vertnum[mesh]].astype(
            np.float64
        )
    elif kind == int(mujoco.mjtGeom.mjGEOM_BOX):
        local = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64) * size
    elif kind in (int(mujoco.mjtGeom.mjGEOM_CAPSULE), int(mujoco.mjtGeom.mjGEOM_CYLINDER)):
        cap = size[1] + (size[0] if kind == int(mujoco.mjtGeom.mjGEOM_CAPSULE) else 0.0)
        ring = [
            [size[0] * np.cos(a), size[0] * np.sin(a), s * size[1]]
            for a in np.linspace(0, 2 * np.pi, 12, endpoint=False)
            for s in (-1, 1)
        ]
        local = np.array(ring + [[0, 0, cap], [0, 0, -cap]], dtype=np.float64)
    elif kind == int(mujoco.mjtGeom.mjGEOM_SPHERE):
        local = np.concatenate([np.eye(3), -np.eye(3)]) * size[0]
    elif kind == int(mujoco.mjtGeom.mjGEOM_ELLIPSOID):
        local = np.concatenate([np.diag(size), -np.diag(size)])
    else:
        return np.zeros((0, 3))
    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, model.geom_quat[geom])
    return local @ rot.reshape(3, 3).T + model.geom_pos[geom]


def _subtree(model: mujoco.MjModel, body: int) -> list[int]:
    out, frontier = [], [body]
    while frontier:
        b = frontier.pop()
        out.append(b)
        frontier += [c for c in range(1, model.nbody) if int(model.body_parentid[c]) == b and c != b]
    return out


def propose_hand(description: str | os.PathLike, side: str | None = None, name: str | None = None) -> Proposal:
    """Read ``description`` (MJCF or URDF) and propose its hand file (see the module docstring)."""
    from dexego.retarget.chain import load_model, urdf_mimics

    path = Path(description)
    urdf = path.suffix.lower() == ".urdf"
    model = load_model(path, geometry=not urdf)  # URDF meshes are never opened: tips come from tip-named links there
    reasons: list[str] = []
    jointed = [
        b
        for b in range(1, model.nbody)
        if model.body_jntnum[b] > 0 and int(model.jnt_type[model.body_jntadr[b]]) in (2, 3)
    ]
    if not jointed:
        raise InputError(path, None, "no hinge or slide joints: not a hand")

    def ancestors(b: int) -> list[int]:
        out = []
        while b > 0:
            b = int(model.body_parentid[b])
            out.append(b)
        return out

    common = set(ancestors(jointed[0]))
    for b in jointed[1:]:
        common &= set(ancestors(b))
    palm = max(common, key=lambda b: len(ancestors(b)))  # the deepest common ancestor
    root = palm
    while root > 0:
        parent = int(model.body_parentid[root])
        if parent == 0 or model.body_jntnum[root] > 0 or not model.body(parent).name:
            break
        root = parent
    while root > 0 and not model.body(root).name:  # an unnamed palm: walk down is impossible, so up to a named body
        root = int(model.body_parentid[root])
    if root <= 0:
        raise InputError(path, None, "the bodies above the joints have no names: cannot name the hand's root")
    root_name = model.body(root).name
    reasons.append(
        f"root: {root_name!r} — the lowest body above every joint is {model.body(palm).name or '(unnamed)'!r}; "
        f"{'it is' if root == palm else 'bodies fixed to it up to'} {root_name!r}"
        f"{'' if root == palm else ' carry no joints (the mount)'}; the wrist is its origin"
    )

    # Finger branches: the root's descendants, grouped by the child of the palm they hang from, keeping those with joints.
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    root_rot, root_pos = data.xmat[root].reshape(3, 3), data.xpos[root]

    def in_root(b: int, local: np.ndarray) -> np.ndarray:
        return root_rot.T @ (data.xpos[b] + data.xmat[b].reshape(3, 3) @ local - root_pos)

    branches = []
    for child in [c for c in range(1, model.nbody) if int(model.body_parentid[c]) == palm]:
        bodies = _subtree(model, child)
        joints_here = [b for b in bodies if b in jointed]
        if not joints_here:
            continue
        # Sub-branches: every leaf of jointed bodies is one finger (a palm-child holding several fingers splits).
        leaves = [b for b in joints_here if not any(b in ancestors(o) for o in joints_here if o != b)]
        for leaf in leaves:
            chain = [b for b in [leaf] + ancestors(leaf) if b in joints_here][::-1]
            branches.append({"bodies": chain, "distal": leaf, "subtree": _subtree(model, leaf)})
    if len(branches) < 2:
        raise InputError(
            path,
            None,
            f"found {len(branches)} finger(s) below {model.body(palm).name!r}: a hand needs a thumb and a finger",
        )

    def branch_names(branch) -> set[str]:
        tokens: set[str] = set()
        for b in branch["bodies"] + branch["subtree"]:
            tokens |= _tokens(model.body(b).name)
            for j in range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]):
                tokens |= _tokens(model.joint(j).name)
        return tokens

    for branch in branches:
        first = branch["bodies"][0]
        branch["mcp_local"] = np.asarray(model.jnt_pos[model.body_jntadr[first]], dtype=np.float64).copy()
        branch["mcp"] = in_root(first, branch["mcp_local"])
        branch["named"] = None
        # The distal link's own name first, then the whole branch's; a branch that mentions the thumb is the thumb
        # (a thumb's links are often called proximal / middle / distal).
        for words in (_tokens(model.body(branch["distal"]).name), branch_names(branch)):
            named = [f for f in FINGERS if any(w in words for w in FINGER_WORDS[f])]
            if "thumb" in named or len(named) == 1:
                branch["named"] = "thumb" if "thumb" in named else named[0]
                break
    by_name = {b["named"] for b in branches if b["named"]}
    if len(by_name) == len(branches) == len({b["named"] for b in branches}) and "thumb" in by_name:
        for branch in branches:
            branch["finger"] = branch["named"]
        reasons.append(
            "fingers: named after the finger words in their body/joint names ("
            + ", ".join(f"{b['finger']}: {model.body(b['distal']).name!r}" for b in branches)
            + ")"
        )
    else:
        thumb = min(branches, key=lambda b: np.linalg.norm(b["mcp"]))
        others = [b for b in branches if b is not thumb]
        # Along the row of knuckles (its principal direction), starting from the end nearer the thumb.
        knuckles = np.stack([b["mcp"] for b in others])
        centre = knuckles.mean(0)
        axis = np.linalg.svd(knuckles - centre)[2][0] if len(others) > 1 else np.zeros(3)
        if (thumb["mcp"] - centre) @ axis > 0:
            axis = -axis
        others = sorted(others, key=lambda b: float((b["mcp"] - centre) @ axis))
        if len(others) > 4:
            raise InputError(path, None, f"found {len(branches)} fingers; a hand has at most five")
        thumb["finger"] = "thumb"
        for branch, finger in zip(others, FINGERS[1:]):
            branch["finger"] = finger
        reasons.append(
            "fingers: by geometry — the thumb's first joint is nearest the wrist; the others along the row of knuckles from the thumb's side ("
            + ", ".join(f"{b['finger']}: {model.body(b['distal']).name!r}" for b in [thumb] + others)
            + ")"
        )

    keypoints: dict = {"wrist": {"body": root_name}}
    for branch in sorted(branches, key=lambda b: FINGERS.index(b["finger"])):
        finger = branch["finger"]
        keypoints[f"{finger}_tip"] = _tip(model, branch, reasons, finger, urdf)
        if finger != "thumb":
            first = branch["bodies"][0]
            keypoints[f"{finger}_mcp"] = {"body": model.body(first).name, "offset": _round(branch["mcp_local"])}
    mcp = {b["finger"]: b["mcp"] for b in branches if b["finger"] != "thumb"}
    reasons.append("MCPs: the first joint of each finger (" + ", ".join(sorted(mcp)) + ")")
    if "index" not in mcp or ("middle" not in mcp and "ring" not in mcp):
        raise InputError(path, None, "needs at least two fingers besides the thumb to place the wrist frame's knuckles")
    if "middle" not in mcp:  # index and ring: the middle knuckle between them
        mcp["middle"] = mcp["index"] + 0.5 * (mcp["ring"] - mcp["index"])
        keypoints["middle_mcp"] = {"body": root_name, "offset": _round(mcp["middle"])}
        reasons.append("middle_mcp: no middle finger — halfway between the index and ring knuckles, on the palm")
    if "little" not in mcp:  # human proportions: the little knuckle a knuckle and a half past the middle one
        last = "ring" if "ring" in mcp else "middle"
        gap = mcp[last] - mcp["middle"] if last == "ring" else 1.5 * (mcp["middle"] - mcp["index"])
        mcp["little"] = mcp[last] + gap
        keypoints["little_mcp"] = {"body": root_name, "offset": _round(mcp["little"])}
        reasons.append(
            f"little_mcp: no little finger — extrapolated on the palm past the {last} knuckle ({_round(mcp['little'])} in the root frame)"
        )

    # Couplings and actuated joints: as the description defines them.
    from dexego.retarget.chain import PointSpec, chain_from_model

    specs = [
        PointSpec(k, site=v.get("site"), body=v.get("body"), offset=tuple(v.get("offset", (0.0, 0.0, 0.0))))
        for k, v in keypoints.items()
    ]
    chain = chain_from_model(
        model, root_name, specs, source=str(path), extra_couplings=urdf_mimics(path) if urdf else None
    )
    driven = {c.joint: c for c in chain.couplings}
    actuated = [chain.joints[i].name for i in chain.independent_joints]
    coupled = [
        f"{chain.joints[c.joint].name} <- {chain.joints[c.driver].name} (coefficients {', '.join(f'{x:g}' for x in c.coefficients)})"
        for c in driven.values()
    ]
    reasons.append(
        f"actuated: {len(actuated)} joints no coupling drives ({', '.join(actuated)})"
        + (f"; coupled: {'; '.join(coupled)}" if coupled else "; no couplings")
    )

    # Side: the option, else the names; then the way the fingers curl must agree.
    named_side = _name_side(model)
    curl_side = _curl_side(chain, keypoints)
    if side is None:
        side = named_side or curl_side
        why = "from the names" if named_side else "from the way the fingers curl (no left/right in the names)"
        reasons.append(f"side: {side} — {why}")
    else:
        reasons.append(f"side: {side} — given")
    if curl_side is not None and curl_side != side:
        reasons.append(
            f"WARNING: with side {side} the fingers curl away from the palm normal; the geometry says {curl_side}"
        )

    hand_name = name or re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_") or "hand"
    data_out = {
        "name": hand_name,
        "side": side,
        "description": _distribution_form(path),
        "root": root_name,
        "actuated": actuated,
        "keypoints": {k: keypoints[k] for k in KEYPOINT_NAMES if k in keypoints},
    }
    return Proposal(data_out, reasons)


def _round(v) -> list[float]:
    return [round(float(x), 5) + 0.0 for x in v]


def _tip(model: mujoco.MjModel, branch: dict, reasons: list[str], finger: str, urdf: bool):
    named_sites = [
        s
        for s in range(model.nsite)
        if int(model.site_bodyid[s]) in branch["subtree"] and "tip" in model.site(s).name.lower()
    ]
    if named_sites:
        site = model.site(named_sites[0]).name
        reasons.append(f"{finger}_tip: the site {site!r} (named like a tip)")
        return {"site": site}
    named_bodies = [b for b in branch["subtree"] if "tip" in model.body(b).name.lower()]
    if named_bodies:
        body = model.body(named_bodies[0]).name
        reasons.append(f"{finger}_tip: the {'link' if urdf else 'body'} {body!r} (named like a tip)")
        return {"body": body}
    distal = branch["distal"]
    joint = model.body_jntadr[distal]
    anchor = np.asarray(model.jnt_pos[joint], dtype=np.float64)
    geoms = [g for g in range(model.ngeom) if int(model.geom_bodyid[g]) == distal]
    collision = [g for g in geoms if model.geom_contype[g] or model.geom_conaffinity[g]]
    for group, label in ((collision, "collision"), (geoms, "visual")):
        points = [_geom_points(model, g) for g in group]
        points = np.concatenate(points) if points else np.zeros((0, 3))
        if len(points):
            # The far end of the link: the points within FAR_END of the largest distance from the joint, averaged
            # (a single farthest vertex can sit on an edge of the fingertip; their centre is the tip's middle).
            distance = np.linalg.norm(points - anchor, axis=-1)
            far = points[distance >= distance.max() - FAR_END].mean(0)
            reasons.append(
                f"{finger}_tip: the far end of {model.body(distal).name!r}'s {label} geometry, the centre of its points "
                f"within {1000 * FAR_END:.0f} mm of the farthest from its joint ({1000 * np.linalg.norm(far - anchor):.1f} mm away)"
            )
            return {"body": model.body(distal).name, "offset": _round(far)}
    reasons.append(
        f"{finger}_tip: WARNING — {model.body(distal).name!r} has no geometry and nothing is named like a tip: its origin"
    )
    return {"body": model.body(distal).name}


def _curl_side(chain, keypoints: dict) -> str | None:
    """Which side's wrist frame has the fingers curling towards the palm (its +z): 'right', 'left', or None."""
    from dexego.retarget.joint_map import JointMap
    from dexego.retarget.kinematics import ChainKinematics

    joint_map = JointMap(chain, dtype=torch.float64)
    kin = ChainKinematics(chain, dtype=torch.float64)
    lower, upper = joint_map.lower, joint_map.upper
    finite = torch.isfinite(lower) & torch.isfinite(upper)
    lo = torch.where(finite, lower, torch.zeros_like(lower))
    hi = torch.where(finite, upper, torch.ones_like(upper))
    names = list(chain.point_names)
    with torch.no_grad():
        open_pts = kin(joint_map(lo[None])[0]).points[0]
        closed = kin(joint_map(hi[None])[0]).points[0]
    wrist, index, little = (open_pts[names.index(k)] for k in ("wrist", "index_mcp", "little_mcp"))
    normal = torch.linalg.cross(index - wrist, little - wrist, dim=-1)  # the right hand's palmar normal
    tips = [names.index(k) for k in names if k.endswith("_tip") and k != "thumb_tip"]
    if not tips:
        return None
    motion = float(((closed[tips] - open_pts[tips]) @ normal).sum())
    if abs(motion) < 1e-12:
        return None
    return "right" if motion > 0 else "left"


def write_proposal(proposal: Proposal, out: str | os.PathLike) -> Path:
    """Write the hand file (atomically), with the reasons as comments; refuses to overwrite."""
    from dexego.utils.files import atomic_file

    out = Path(out)
    if out.exists():
        raise InputError(out, None, "already exists; choose a new file name")
    data = dict(proposal.data)
    if isinstance(data["description"], str):
        try:
            data["description"] = os.path.relpath(data["description"], out.resolve().parent)
        except ValueError:
            pass
    header = "".join(
        f"# {line}\n"
        for line in ["Proposed by dexego retarget init-hand from the description alone:"] + proposal.reasons
    )
    with atomic_file(out) as tmp:
        Path(tmp).write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120))
    return out


@dataclass
class HandCheck:
    samples: int
    reach: dict  # finger -> {"min_m", "max_m"} distance from the wrist, {"extent_m"} bounding-box diagonal
    round_trip_mm: dict  # {"median", "max"} fingertip error of joints -> FK -> retarget
    frame_motion_mm: float  # largest movement of the wrist-frame points over the samples
    hand_length_m: float
    unreachable_threshold_m: float


def check_hand(hand, samples: int = 200, seed: int = 0) -> HandCheck:
    """Sample joint configurations within the limits and report reach, the round trip and the wrist frame's stillness."""
    from dexego.retarget.hand_retarget import HandRetargeter

    gen = torch.Generator().manual_seed(seed)
    lower, upper = hand.lower.double(), hand.upper.double()
    finite = torch.isfinite(lower) & torch.isfinite(upper)
    lo = torch.where(finite, lower, torch.full_like(lower, -np.pi))
    hi = torch.where(finite, upper, torch.full_like(upper, np.pi))
    q = lo + (hi - lo) * torch.rand(samples, hand.num_joints, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        points21 = hand.keypoints21(q.to(hand.dtype)).double()
        root_points = hand.kinematics(hand.full_joints(q.to(hand.dtype))).points.double()
    tips = points21[:, list(hand.tip_indices)]
    reach = {}
    for column, keypoint in enumerate(hand.tip_indices):
        distance = tips[:, column].norm(dim=-1)
        extent = (tips[:, column].amax(0) - tips[:, column].amin(0)).norm()
        reach[KEYPOINT_NAMES[keypoint].removesuffix("_tip")] = {
            "min_m": float(distance.min()),
            "max_m": float(distance.max()),
            "extent_m": float(extent),
        }
    frame_rows = [hand.keypoint_indices.index(k) for k in (0, 5, 9, 17)]
    frame = root_points[:, frame_rows]
    motion = float((frame - frame[:1]).norm(dim=-1).max()) * 1000
    targets = torch.full((samples, 1, 21, 3), float("nan"), dtype=torch.float64)
    targets[:, 0, list(FINGERTIPS)] = points21[:, list(FINGERTIPS)]
    retargeter = HandRetargeter(hand)
    result = retargeter.retarget(targets.to(hand.dtype))
    error = result.fingertip_error[:, 0].double() * 1000
    return HandCheck(
        samples=samples,
        reach=reach,
        round_trip_mm={"median": float(error.median()), "max": float(error.max())},
        frame_motion_mm=motion,
        hand_length_m=hand.hand_length,
        unreachable_threshold_m=retargeter.unreachable_threshold,
    )


def render_hand(hand, out: str | os.PathLike, size: int = 320) -> Path:
    """A PNG of the description at three poses (joints at the lower limits, the middle, the upper limits), keypoints
    drawn as small spheres (red: wrist frame, green: fingertips). Shadows, reflections and anti-aliasing off."""
    from PIL import Image

    from dexego.utils.files import atomic_file

    description = hand.spec.description
    spec = mujoco.MjSpec.from_file(description) if not description.lower().endswith(".urdf") else None
    if spec is None:
        from dexego.retarget.chain import urdf_for_kinematics

        spec = mujoco.MjSpec.from_string(urdf_for_kinematics(description))
    spec.visual.quality.offsamples = 0
    for geom in spec.geoms:  # one light grey, whatever the description's materials (some hands are black on black)
        geom.material = ""
        geom.rgba = [0.75, 0.75, 0.78, 1.0]
    chain = hand.chain
    model = spec.compile()
    images = []
    for q in (hand.lower, hand.joint_map.middle(), hand.upper):
        q_full = hand.full_joints(q.to(hand.dtype)).double()
        data = mujoco.MjData(model)
        for joint, value in zip(chain.joints, q_full.tolist()):
            data.joint(joint.name).qpos = value
        mujoco.mj_kinematics(model, data)
        root = model.body(chain.root).id
        rot, pos = data.xmat[root].reshape(3, 3), data.xpos[root]
        with torch.no_grad():
            points = hand.kinematics(q_full.to(hand.dtype)[None]).points[0].double().numpy()
        world = points @ rot.T + pos
        renderer = mujoco.Renderer(model, size, size)
        try:
            for flag in (
                mujoco.mjtRndFlag.mjRND_SHADOW,
                mujoco.mjtRndFlag.mjRND_REFLECTION,
                mujoco.mjtRndFlag.mjRND_SKYBOX,
            ):
                renderer.scene.flags[flag] = False
            camera = mujoco.MjvCamera()
            center = world.mean(0)
            camera.lookat[:] = center
            camera.distance = 2.5 * max(float(np.linalg.norm(world - center, axis=-1).max()), 0.05)
            camera.azimuth, camera.elevation = 135.0, -30.0
            renderer.update_scene(data, camera)
            for name, p in zip(chain.point_names, world):
                scene = renderer.scene
                if scene.ngeom >= scene.maxgeom:
                    break
                rgba = np.array([0.1, 0.8, 0.1, 1] if name.endswith("_tip") else [0.9, 0.1, 0.1, 1], dtype=np.float32)
                mujoco.mjv_initGeom(
                    scene.geoms[scene.ngeom],
                    mujoco.mjtGeom.mjGEOM_SPHERE,
                    np.array([0.004, 0, 0]),
                    p,
                    np.eye(3).reshape(-1),
                    rgba,
                )
                scene.ngeom += 1
            images.append(renderer.render().copy())
        finally:
            renderer.close()
    out = Path(out)
    with atomic_file(out) as tmp:
        Image.fromarray(np.concatenate(images, axis=1)).save(tmp, format="PNG")
    return out
