"""Loading a trained dexego Policy for serving, and describing it in the server metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dexego.errors import ConfigError, InputError


def load_policy(checkpoint: str | Path) -> Any:
    """``dexego.models.Policy.load(checkpoint)`` in eval mode (safetensors + JSON: no pickle)."""
    path = Path(checkpoint)
    if not path.is_dir():
        raise InputError(path, None, "checkpoint directory not found")
    try:
        from dexego.models import Policy
    except ImportError as exc:
        raise ConfigError(f"cannot load {path}: dexego.models is not available ({exc})") from exc
    policy = Policy.load(path)
    if hasattr(policy, "eval"):
        policy.eval()
    return policy


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
    """Metadata a client can use: action space name and size, chunk horizon, policy class."""
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
