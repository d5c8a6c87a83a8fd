"""Actuated joints -> all joints of a chain, through its couplings (mimic joints)."""

from __future__ import annotations

import numpy as np
import torch

from dexego.errors import InputError
from dexego.retarget.arrays import expand, eye, namespace, numpy_buffers
from dexego.retarget.chain import KinematicChain


class JointMap(torch.nn.Module):
    """q_act (..., A) -> q_full (..., J) and d q_full / d q_act (..., J, A).

    ``actuated`` are the joints a user commands (default: every joint that no
    coupling drives). Their limits are intersected with what linear
    couplings imply for the joints they drive, so a projected actuated value
    never pushes a coupled joint past its own limit.
    """

    def __init__(
        self, chain: KinematicChain, actuated: tuple[int, ...] | None = None, dtype: torch.dtype = torch.float32
    ):
        super().__init__()
        self.chain = chain
        driven = {c.joint: c for c in chain.couplings}
        actuated = chain.independent_joints if actuated is None else tuple(actuated)
        for a in actuated:
            if a in driven:
                raise InputError(
                    chain.source,
                    "actuated",
                    f"joint {chain.joints[a].name!r} is driven by a coupling and cannot be actuated",
                )
        missing = [chain.joints[j].name for j in chain.independent_joints if j not in actuated]
        if missing:
            raise InputError(
                chain.source, "actuated", f"free joint(s) neither actuated nor coupled: {', '.join(missing)}"
            )
        self.actuated = actuated
        self.num_actuated = len(actuated)
        self.num_joints = len(chain.joints)
        # Evaluation order: a driven joint after its driver.
        order, done = [], set(actuated)
        pending = [c for c in chain.couplings]
        while pending:
            ready = [c for c in pending if c.driver in done]
            if not ready:
                raise InputError(chain.source, "couplings", "a coupling's driver is neither actuated nor coupled")
            for c in ready:
                order.append(c)
                done.add(c.joint)
                pending.remove(c)
        self.order = order
        self.register_buffer("ref", torch.tensor([j.ref for j in chain.joints], dtype=dtype))
        self.linear = all(all(k == 0 for k in c.coefficients[2:]) for c in order)
        lower, upper = self._actuated_limits()
        self.register_buffer("lower", torch.tensor(lower, dtype=dtype))
        self.register_buffer("upper", torch.tensor(upper, dtype=dtype))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.chain.joints[a].name for a in self.actuated)

    def _actuated_limits(self) -> tuple[np.ndarray, np.ndarray]:
        joints = self.chain.joints
        lower = np.array([joints[a].lower for a in self.actuated], dtype=np.float64)
        upper = np.array([joints[a].upper for a in self.actuated], dtype=np.float64)
        position = {a: i for i, a in enumerate(self.actuated)}
        for c in self.order:
            if c.driver not in position or any(abs(k) > 0 for k in c.coefficients[2:]) or len(c.coefficients) < 2:
                continue
            offset, slope = c.coefficients[0], c.coefficients[1]
            if slope == 0:
                continue
            dep, drv = joints[c.joint], joints[c.driver]
            bounds = sorted(
                ((dep.lower - dep.ref - offset) / slope + drv.ref, (dep.upper - dep.ref - offset) / slope + drv.ref)
            )
            i = position[c.driver]
            new_lower, new_upper = max(lower[i], bounds[0]), min(upper[i], bounds[1])
            if new_lower <= new_upper:
                lower[i], upper[i] = new_lower, new_upper
        return lower, upper

    def middle(self) -> torch.Tensor:
        """A neutral configuration: the middle of each finite range, else the reference position."""
        ref = self.ref[list(self.actuated)]
        finite = torch.isfinite(self.lower) & torch.isfinite(self.upper)
        clamped = torch.minimum(torch.maximum(ref, self.lower), self.upper)
        return torch.where(finite, (self.lower + self.upper) / 2, clamped)

    def clamp(self, q):
        """Project actuated joints (torch or numpy, see ``dexego.retarget.arrays``) onto the limits."""
        xp = namespace(q)
        const = numpy_buffers(self) if xp is np else {"lower": self.lower, "upper": self.upper}
        return xp.minimum(xp.maximum(q, const["lower"]), const["upper"])

    def _numpy_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear couplings: q_full = offset + slope @ q_act, both taken from the coupling loop at q_act = 0 (numpy)."""
        cache = self.__dict__.get("_affine")
        if cache is None:
            linear, self.linear = self.linear, False
            try:
                offset, slope = self.forward(np.zeros(self.num_actuated), derivative=True)
            finally:
                self.linear = linear
            cache = self.__dict__["_affine"] = (offset, slope)
        return cache

    def middle_numpy(self) -> np.ndarray:
        """:meth:`middle` as a float64 numpy array (cached)."""
        cache = self.__dict__.get("_middle_numpy")
        if cache is None:
            cache = self.__dict__["_middle_numpy"] = self.middle().detach().cpu().double().numpy()
        return cache

    def forward(self, q_act, derivative: bool = False):
        """q_act (..., A) torch or numpy -> q_full (..., J) [, d q_full / d q_act (..., J, A)]."""
        if q_act.shape[-1] != self.num_actuated:
            raise ValueError(f"expected {self.num_actuated} actuated joint values, got shape {tuple(q_act.shape)}")
        xp = namespace(q_act)
        if xp is np and self.linear:
            offset, slope = self._numpy_affine()
            return q_act @ slope.T + offset, (expand(slope, q_act.shape[:-1] + slope.shape) if derivative else None)
        ref = numpy_buffers(self)["ref"] if xp is np else self.ref
        batch = q_act.shape[:-1]
        columns: list = [None] * self.num_joints
        values: list = [None] * self.num_joints
        identity = eye(self.num_actuated, q_act)
        for i, a in enumerate(self.actuated):
            values[a] = q_act[..., i]
            columns[a] = expand(identity[i], batch + (self.num_actuated,))
        for c in self.order:
            x = values[c.driver] - ref[c.driver]
            y = xp.zeros_like(x)
            dy = xp.zeros_like(x)
            for k, coefficient in enumerate(c.coefficients):
                if coefficient == 0:
                    continue
                y = y + coefficient * x**k
                if k > 0:
                    dy = dy + coefficient * k * x ** (k - 1)
            values[c.joint] = y + ref[c.joint]
            columns[c.joint] = dy[..., None] * columns[c.driver]
        q_full = xp.stack(values, -1)
        return q_full, (xp.stack(columns, -2) if derivative else None)
