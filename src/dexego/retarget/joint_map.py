"""Actuated joints -> all joints of a chain, through its couplings (mimic joints)."""

from __future__ import annotations

import numpy as np
import torch

from dexego.errors import InputError
from dexego.retarget.chain import KinematicChain


class JointMap(torch.nn.Module):
    """q_act (..., A) -> q_full (..., J) and d q_full / d q_act (..., J, A).

    ``actuated`` are the joints a user commands (default: every joint that no
    coupling drives). Their limits are intersected with what linear
    couplings imply for the joints they drive, so a projected actuated value
    never pushes a coupled joint past its own limit.
    """

    def __init__(self, chain: KinematicChain, actuated: "tuple[int, ...] | None" = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.chain = chain
        driven = {c.joint: c for c in chain.couplings}
        actuated = chain.independent_joints if actuated is None else tuple(actuated)
        for a in actuated:
            if a in driven:
                raise InputError(chain.source, "actuated", f"joint {chain.joints[a].name!r} is driven by a coupling and cannot be actuated")
        missing = [chain.joints[j].name for j in chain.independent_joints if j not in actuated]
        if missing:
            raise InputError(chain.source, "actuated", f"free joint(s) neither actuated nor coupled: {', '.join(missing)}")
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
            bounds = sorted(((dep.lower - dep.ref - offset) / slope + drv.ref, (dep.upper - dep.ref - offset) / slope + drv.ref))
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

    def clamp(self, q: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(q, self.lower), self.upper)

    def forward(self, q_act: torch.Tensor, derivative: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if q_act.shape[-1] != self.num_actuated:
            raise ValueError(f"expected {self.num_actuated} actuated joint values, got shape {tuple(q_act.shape)}")
        batch = q_act.shape[:-1]
        columns: list[torch.Tensor | None] = [None] * self.num_joints
        values: list[torch.Tensor | None] = [None] * self.num_joints
        eye = torch.eye(self.num_actuated, dtype=q_act.dtype, device=q_act.device)
        for i, a in enumerate(self.actuated):
            values[a] = q_act[..., i]
            columns[a] = eye[i].expand(batch + (self.num_actuated,))
        for c in self.order:
            x = values[c.driver] - self.ref[c.driver]
            y = torch.zeros_like(x)
            dy = torch.zeros_like(x)
            for k, coefficient in enumerate(c.coefficients):
                if coefficient == 0:
                    continue
                y = y + coefficient * x**k
                if k > 0:
                    dy = dy + coefficient * k * x ** (k - 1)
            values[c.joint] = y + self.ref[c.joint]
            columns[c.joint] = dy[..., None] * columns[c.driver]
        q_full = torch.stack(values, -1)  # type: ignore[arg-type]
        return q_full, (torch.stack(columns, -2) if derivative else None)  # type: ignore[arg-type]
