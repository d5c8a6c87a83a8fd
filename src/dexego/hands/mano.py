"""MANO support without shipping MANO.

MANO's licence forbids redistribution, so users supply ``MANO_RIGHT.pkl`` /
``MANO_LEFT.pkl``. The files are Python-2 pickles that may hold chumpy and
scipy.sparse objects; they are read with a restricted unpickler that builds
only numpy arrays, sparse matrices and inert placeholders, and refuses any
other global (so a crafted file cannot execute code).

Datasets disagree on ``flat_hand_mean``: with ``True`` the zero pose is a
flat hand; with ``False`` the file's ``hands_mean`` is added to every pose.
It is an explicit argument here, never a default hidden in a converter.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

from dexego.errors import InputError
from dexego.geometry.rotations import axis_angle_to_matrix
from dexego.geometry.transforms import make_transform
from dexego.hands.layout import SIDES

MANO_KEYS = (
    "hands_components",
    "hands_mean",
    "shapedirs",
    "posedirs",
    "v_template",
    "J_regressor",
    "weights",
    "f",
    "kintree_table",
)
NUM_JOINTS = 16
# MANO joints: 0 wrist, index 1-3, middle 4-6, little 7-9, ring 10-12, thumb 13-15.
# Fingertips are mesh vertices. These map MANO to the 21-keypoint order.
FINGERTIP_VERTICES = {"thumb": 744, "index": 320, "middle": 443, "ring": 554, "little": 671}
_JOINT_TO_KEYPOINT = (0, 13, 14, 15, None, 1, 2, 3, None, 4, 5, 6, None, 10, 11, 12, None, 7, 8, 9, None)


class _Placeholder:
    """Stands in for a chumpy / sparse object: keeps its pickled state and nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ChumpyArray(_Placeholder):
    pass


class _SparseMatrix(_Placeholder):
    pass


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    if not (isinstance(cls, type) and issubclass(cls, _Placeholder)) or base is not object:
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
    return cls.__new__(cls)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Python-2 pickles store raw array bytes as latin-1 text re-encoded through _codecs.encode.
    if encoding.lower().replace("-", "") != "latin1":
        raise pickle.UnpicklingError(f"refusing codec {encoding!r}")
    return text.encode("latin1")


def _numpy_helper(name: str) -> Any:
    from numpy._core import multiarray  # numpy >= 2 keeps the pickling helpers here

    return getattr(multiarray, name)


_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("copy_reg", "_reconstructor"): lambda: _reconstructor,
    ("copyreg", "_reconstructor"): lambda: _reconstructor,
    ("_codecs", "encode"): lambda: _latin1_encode,
    ("__builtin__", "object"): lambda: object,
    ("builtins", "object"): lambda: object,
    **{
        (module, name): (lambda name=name: _numpy_helper(name))
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    },
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("chumpy"):
            return _ChumpyArray
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix"):
            return _SparseMatrix
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]()
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a MANO file")


def safe_unpickle(data: bytes, path: str | os.PathLike = "<bytes>") -> Any:
    """Unpickle numpy / chumpy / sparse data without running code from the file."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise InputError(path, None, f"unsafe or unreadable pickle: {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InputError(path, None, f"corrupt or truncated pickle: {exc}") from None


def _to_array(value: Any, path: Path, key: str) -> np.ndarray:
    if isinstance(value, _ChumpyArray):
        state = value.state if isinstance(value.state, dict) else {}
        if "x" not in state:
            raise InputError(path, key, "chumpy object without a value ('x')")
        return _to_array(state["x"], path, key)
    if isinstance(value, _SparseMatrix):
        state = value.state if isinstance(value.state, dict) else {}
        shape = state.get("_shape", state.get("shape"))
        try:
            matrix = scipy.sparse.csc_matrix((state["data"], state["indices"], state["indptr"]), shape=shape)
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(path, key, f"malformed sparse matrix: {exc}") from None
        return matrix.toarray()
    if scipy.sparse.issparse(value):
        return value.toarray()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(path, key, f"not a numeric array: {exc}") from None


@dataclass(frozen=True)
class MANOParams:
    """The arrays of one MANO hand file (float64, dense)."""

    v_template: np.ndarray  # (V, 3)
    shapedirs: np.ndarray  # (V, 3, B)
    posedirs: np.ndarray  # (V, 3, 135)
    J_regressor: np.ndarray  # (16, V)
    weights: np.ndarray  # (V, 16)
    hands_components: np.ndarray  # (45, 45)
    hands_mean: np.ndarray  # (45,)
    parents: tuple[int, ...]  # (16,), -1 for the root
    faces: np.ndarray  # (F, 3) int


def load_mano_params(path: str | os.PathLike) -> MANOParams:
    """Read a MANO pickle with the restricted unpickler and check every array's shape."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "MANO file not found (MANO is not shipped: download it from its authors)")
    raw = safe_unpickle(path.read_bytes(), path)
    if not isinstance(raw, dict):
        raise InputError(path, None, f"expected a dict of arrays, got {type(raw).__name__}")
    missing = [k for k in MANO_KEYS if k not in raw]
    if missing:
        raise InputError(path, missing[0], f"missing key(s): {', '.join(missing)}")
    arrays = {k: _to_array(raw[k], path, k) for k in MANO_KEYS}
    v = arrays["v_template"].shape[0]
    expected = {
        "v_template": (v, 3),
        "posedirs": (v, 3, (NUM_JOINTS - 1) * 9),
        "J_regressor": (NUM_JOINTS, v),
        "weights": (v, NUM_JOINTS),
        "hands_components": (45, 45),
        "hands_mean": (45,),
        "kintree_table": (2, NUM_JOINTS),
    }
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise InputError(path, key, f"expected shape {shape}, got {arrays[key].shape}")
    shapedirs = arrays["shapedirs"]
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (v, 3):
        raise InputError(path, "shapedirs", f"expected shape ({v}, 3, B), got {shapedirs.shape}")
    for key, value in arrays.items():
        if not np.all(np.isfinite(value)):
            raise InputError(path, key, "contains NaN or inf")
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1  # the root's parent is stored as a large sentinel
    return MANOParams(
        v_template=arrays["v_template"],
        shapedirs=shapedirs,
        posedirs=arrays["posedirs"],
        J_regressor=arrays["J_regressor"],
        weights=arrays["weights"],
        hands_components=arrays["hands_components"],
        hands_mean=arrays["hands_mean"],
        parents=tuple(int(p) for p in parents),
        faces=arrays["f"].astype(np.int64),
    )


@dataclass
class MANOOutput:
    vertices: torch.Tensor  # (..., V, 3)
    joints: torch.Tensor  # (..., 16, 3), MANO order
    keypoints: torch.Tensor  # (..., 21, 3), dexego's order


class MANOModel(torch.nn.Module):
    """Differentiable MANO forward kinematics (linear blend skinning) in torch."""

    def __init__(self, params: MANOParams, side: str, flat_hand_mean: bool, num_pca: int = 15):
        super().__init__()
        if side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        if not 1 <= num_pca <= 45:
            raise ValueError(f"num_pca must be in 1..45, got {num_pca}")
        self.side = side
        self.flat_hand_mean = flat_hand_mean
        self.num_pca = num_pca
        self.parents = params.parents
        self.num_betas = params.shapedirs.shape[-1]
        f64 = torch.float64
        self.register_buffer("v_template", torch.tensor(params.v_template, dtype=f64))
        self.register_buffer("shapedirs", torch.tensor(params.shapedirs, dtype=f64))
        self.register_buffer(
            "posedirs", torch.tensor(params.posedirs, dtype=f64).reshape(-1, params.posedirs.shape[-1])
        )
        self.register_buffer("J_regressor", torch.tensor(params.J_regressor, dtype=f64))
        self.register_buffer("weights", torch.tensor(params.weights, dtype=f64))
        self.register_buffer("components", torch.tensor(params.hands_components[:num_pca], dtype=f64))
        mean = np.zeros(45) if flat_hand_mean else params.hands_mean
        self.register_buffer("pose_mean", torch.tensor(mean, dtype=f64))
        self.faces = params.faces

    @classmethod
    def from_file(cls, path: str | os.PathLike, side: str, flat_hand_mean: bool, num_pca: int = 15) -> MANOModel:
        return cls(load_mano_params(path), side, flat_hand_mean, num_pca)

    @classmethod
    def from_dir(cls, mano_dir: str | os.PathLike, side: str, flat_hand_mean: bool, num_pca: int = 15) -> MANOModel:
        """Load ``MANO_RIGHT.pkl`` or ``MANO_LEFT.pkl`` from a directory."""
        return cls.from_file(Path(mano_dir) / f"MANO_{side.upper()}.pkl", side, flat_hand_mean, num_pca)

    def pca_to_pose(self, pca: torch.Tensor) -> torch.Tensor:
        """(..., num_pca) PCA coefficients -> (..., 45) axis-angle finger pose (mean included)."""
        if pca.shape[-1] != self.num_pca:
            raise ValueError(f"expected {self.num_pca} PCA coefficients, got shape {tuple(pca.shape)}")
        return pca.to(self.components.dtype) @ self.components + self.pose_mean

    def pose_to_pca(self, pose: torch.Tensor) -> torch.Tensor:
        """Least-squares PCA coefficients of a (..., 45) finger pose (exact when num_pca = 45)."""
        return (pose.to(self.components.dtype) - self.pose_mean) @ torch.linalg.pinv(self.components)

    def forward(
        self,
        pca: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        global_orient: torch.Tensor | None = None,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> MANOOutput:
        """Pose the hand from ``pca`` coefficients OR a 45-D ``pose`` *relative to the mean*.

        ``pose`` is added to the mean exactly like the PCA reconstruction, so
        with ``flat_hand_mean=False`` a zero pose is the mean hand.
        """
        if (pca is None) == (pose is None):
            raise ValueError("give exactly one of pca= or pose=")
        dtype = self.v_template.dtype
        finger_pose = self.pca_to_pose(pca) if pca is not None else pose.to(dtype) + self.pose_mean
        if finger_pose.shape[-1] != 45:
            raise ValueError(f"pose must have 45 values, got shape {tuple(finger_pose.shape)}")
        batch = finger_pose.shape[:-1]
        global_orient = torch.zeros(batch + (3,), dtype=dtype) if global_orient is None else global_orient.to(dtype)
        betas = torch.zeros(batch + (self.num_betas,), dtype=dtype) if betas is None else betas.to(dtype)
        rotations = axis_angle_to_matrix(torch.cat([global_orient, finger_pose], -1).reshape(batch + (NUM_JOINTS, 3)))

        shaped = self.v_template + torch.einsum("vck,...k->...vc", self.shapedirs, betas)
        joints_rest = torch.einsum("jv,...vc->...jc", self.J_regressor, shaped)
        eye = torch.eye(3, dtype=dtype)
        pose_feature = (rotations[..., 1:, :, :] - eye).reshape(batch + (-1,))
        posed = shaped + (pose_feature @ self.posedirs.T).reshape(shaped.shape)

        offsets = joints_rest.clone()
        offsets[..., 1:, :] = joints_rest[..., 1:, :] - joints_rest[..., list(self.parents[1:]), :]
        local = make_transform(rotations, offsets)
        world = [local[..., 0, :, :]]
        for j in range(1, NUM_JOINTS):
            world.append(world[self.parents[j]] @ local[..., j, :, :])
        world_t = torch.stack(world, dim=-3)
        joints = world_t[..., :3, 3]
        # Skinning transforms move rest-pose vertices: world transform after undoing the rest joint position.
        rest_shift = (world_t[..., :3, :3] @ joints_rest.unsqueeze(-1))[..., 0]
        skin = torch.cat([world_t[..., :3, :3], (joints - rest_shift).unsqueeze(-1)], dim=-1)  # (..., 16, 3, 4)
        blended = torch.einsum("vj,...jab->...vab", self.weights, skin)
        vertices = (blended[..., :3] @ posed.unsqueeze(-1))[..., 0] + blended[..., 3]
        if transl is not None:
            vertices = vertices + transl.to(dtype).unsqueeze(-2)
            joints = joints + transl.to(dtype).unsqueeze(-2)
        return MANOOutput(vertices, joints, self._keypoints(joints, vertices))

    def _keypoints(self, joints: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
        tips = iter(FINGERTIP_VERTICES.values())
        points = [joints[..., j, :] if j is not None else vertices[..., next(tips), :] for j in _JOINT_TO_KEYPOINT]
        return torch.stack(points, dim=-2)
