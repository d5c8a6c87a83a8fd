"""Loading a trained dexego Policy for serving and evaluation, and describing it in the server metadata.

:func:`load_policy` is the one loader of ``dexego serve``, ``dexego sim eval --policy`` and
``dexego eval motion --policy``: ``dexego.models.Policy.from_pretrained``, which reads the policy folder
format of :mod:`dexego.models.pretrained`. Every spelling a user may type for a training run loads::

    runs/NAME                          the run's newest checkpoint (final/ unless a later step-N
                                       checkpoint exists, e.g. while a resumed run goes on)
    runs/NAME/final                    the finished run's policy folder
    runs/NAME/checkpoints/step-N       an intermediate checkpoint (EMA-averaged when the run keeps an EMA, as final/ is)
    a policy folder                    what Policy.save_pretrained wrote
    runs/NAME/final/policy             a run written by an earlier dexego (policy format 1)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dexego.errors import ConfigError


def resolve_policy(path: str | Path) -> Any:
    """The files of the policy behind ``path`` (``dexego.models.pretrained.PolicyFiles``); InputError when none."""
    from dexego.models.pretrained import locate

    return locate(path)


def load_policy(checkpoint: Any) -> Any:
    """The ``dexego.models.Policy`` at a run, checkpoint or policy folder (or what :func:`resolve_policy` found), in eval mode.

    Reads safetensors + JSON only (no pickle)."""
    try:
        from dexego.models import Policy
    except ImportError as exc:
        raise ConfigError(f"cannot load {checkpoint}: dexego.models is not available ({exc})") from exc
    return Policy.from_pretrained(checkpoint).eval()


def _config_value(policy: Any, *names: str) -> Any:
    """The first of ``names`` found on ``policy.config`` or one level below it (e.g. config.head.horizon)."""
    config = getattr(policy, "config", None)
    if config is None:
        return None
    for name in names:
        if hasattr(config, name):
            return getattr(config, name)
    for child in vars(config).values() if hasattr(config, "__dict__") else ():
        for name in names:
            if hasattr(child, name) and not callable(getattr(child, name)):
                return getattr(child, name)
    return None


def policy_info(policy: Any) -> dict[str, Any]:
    """Metadata a client can use: action space name and size, chunk horizon, observation frames, policy class.

    A ``dexego.models.Policy`` describes itself (``Policy.describe``); other policy objects are read by attribute names."""
    describe = getattr(policy, "describe", None)
    if callable(describe):
        return dict(describe())
    info: dict[str, Any] = {"policy": type(policy).__name__}
    space = _config_value(policy, "action_space")
    if isinstance(space, str):
        info["action_space"] = space
        try:
            from dexego.actions import get_space

            info["action_dim"] = get_space(space).dim
        except ConfigError:
            pass  # a robot joint space, unknown to dexego.actions
    horizon = _config_value(policy, "horizon", "chunk_size", "action_horizon")
    if isinstance(horizon, int):
        info["horizon"] = horizon
    frames = _config_value(policy, "n_obs_frames", "obs_frames")
    if isinstance(frames, int):
        info["obs_frames"] = frames
    return info
