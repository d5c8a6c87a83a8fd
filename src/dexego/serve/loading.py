"""Loading a trained dexego Policy for serving and evaluation, and describing it in the server metadata.

:func:`load_policy` is the one loader of ``dexego serve``, ``dexego sim eval --policy`` and
``dexego eval motion --policy``. It accepts every spelling a user may type for a training run
(layout written by :mod:`dexego.train.checkpoints`)::

    runs/NAME                          the run folder: its newest checkpoint (final/ unless a
                                       later step-N checkpoint exists, e.g. while a resumed run goes on)
    runs/NAME/final                    the finished run's checkpoint (its policy/ export)
    runs/NAME/final/policy             the Policy.save export itself (config.json + model.safetensors)
    runs/NAME/checkpoints/step-N       an intermediate checkpoint: its weights (EMA-averaged when the
                                       run keeps an EMA, as final/ is) in the model of the run's config.json
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dexego.errors import ConfigError, InputError

POLICY_DIR = "policy"  # the Policy.save export inside a checkpoint folder
POLICY_CONFIG = "config.json"  # dexego.models.policy.CONFIG_FILE
RUN_CONFIG = "config.json"  # the stage config a run writes at its root
WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"


@dataclass(frozen=True)
class PolicyLocation:
    """Where a policy's files are: a ``Policy.save`` export, or a training checkpoint's weights + its run config."""

    export: Path | None = None  # folder with config.json + model.safetensors (Policy.save)
    weights: Path | None = None  # a training checkpoint's model.safetensors
    ema: Path | None = None  # its ema.safetensors, when the run keeps an EMA
    run_config: Path | None = None  # the run's config.json, whose "model" table builds the policy

    def __str__(self) -> str:
        if self.export is not None:
            return str(self.export)
        return f"{self.weights.parent} (weights{' + EMA' if self.ema else ''}, model from {self.run_config})"


def _is_export(folder: Path) -> bool:
    return (folder / POLICY_CONFIG).is_file() and (folder / WEIGHTS).is_file()


def _is_training_checkpoint(folder: Path) -> bool:
    from dexego.train.checkpoints import STATE_FILE

    return (folder / WEIGHTS).is_file() and (folder / STATE_FILE).is_file()


def _checkpoint_step(folder: Path) -> int:
    from dexego.train.checkpoints import STATE_FILE
    from dexego.utils.files import read_json

    step = read_json(folder / STATE_FILE, "checkpoint state", expect=dict).get("step")
    if not isinstance(step, int):
        raise InputError(folder / STATE_FILE, "step", f"expected an integer, got {step!r}")
    return step


def _newest_checkpoint(run_dir: Path) -> Path | None:
    """final/ or the latest complete step-N checkpoint, whichever has the higher step (final/ on a tie)."""
    from dexego.train.checkpoints import FINAL, latest_checkpoint

    final = run_dir / FINAL
    final = final if _is_export(final / POLICY_DIR) or _is_training_checkpoint(final) else None
    latest = latest_checkpoint(run_dir)
    if final is None or latest is None:
        return final or latest
    return latest if _checkpoint_step(latest) > _checkpoint_step(final) else final


def _from_training_checkpoint(checkpoint: Path) -> PolicyLocation:
    from dexego.train.checkpoints import CHECKPOINTS

    run_dir = checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINTS else checkpoint.parent
    run_config = run_dir / RUN_CONFIG
    if not run_config.is_file():
        raise InputError(checkpoint, None, f"training checkpoint without a policy/ export, and its run's {run_config} "
                                           "(which holds the model configuration) is missing")
    ema = checkpoint / EMA_WEIGHTS
    return PolicyLocation(weights=checkpoint / WEIGHTS, ema=ema if ema.is_file() else None, run_config=run_config)


def resolve_policy(path: str | Path) -> PolicyLocation:
    """The policy files behind a run folder, a checkpoint folder or a policy folder (see the module doc).

    Raises InputError naming ``path`` and every place that was looked at when none holds a policy."""
    from dexego.train.checkpoints import CHECKPOINTS, FINAL

    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "not found (expected a run folder, a checkpoint folder or a policy folder)")
    if not path.is_dir():
        raise InputError(path, None, "is a file; expected a run folder, a checkpoint folder or a policy folder")
    for folder in (path, path / POLICY_DIR):
        if _is_export(folder):
            return PolicyLocation(export=folder)
    if _is_training_checkpoint(path):
        return _from_training_checkpoint(path)
    newest = _newest_checkpoint(path)
    if newest is not None:
        return resolve_policy(newest)
    looked = [f"{POLICY_CONFIG} + {WEIGHTS} (a policy folder)", f"{POLICY_DIR}/{POLICY_CONFIG} (a checkpoint folder)",
              f"{WEIGHTS} + state.json (a training checkpoint)", f"{FINAL}/{POLICY_DIR}/ or {CHECKPOINTS}/step-*/ (a run folder)"]
    runs = sorted(child.name for child in path.iterdir() if (child / FINAL).is_dir() or (child / CHECKPOINTS).is_dir())
    hint = f"; it holds the run folders {', '.join(runs)}: give one of them" if runs else ""
    raise InputError(path, None, f"no policy here; looked for {'; '.join(looked)}{hint}")


def load_policy(checkpoint: str | Path | PolicyLocation) -> Any:
    """The ``dexego.models.Policy`` at a run, checkpoint or policy folder (:func:`resolve_policy`), in eval mode.

    Reads safetensors + JSON only (no pickle)."""
    location = checkpoint if isinstance(checkpoint, PolicyLocation) else resolve_policy(checkpoint)
    try:
        from dexego.models import Policy
    except ImportError as exc:
        raise ConfigError(f"cannot load {location}: dexego.models is not available ({exc})") from exc
    policy = Policy.load(location.export) if location.export is not None else _policy_from_weights(location)
    return policy.eval()


def _policy_from_weights(location: PolicyLocation) -> Any:
    """A training checkpoint's weights in the model of its run's stage config (as ``final/`` exports it)."""
    from dexego.config import load_config
    from dexego.models import Policy, PolicyConfig
    from dexego.train.state_io import load_tensors
    from dexego.utils.files import read_json

    model = read_json(location.run_config, "run configuration", expect=dict).get("model", {})
    if not isinstance(model, dict):
        raise InputError(location.run_config, "model", f"expected a table of policy settings, got {type(model).__name__}")
    policy = Policy(load_config(PolicyConfig, model, origin=str(location.run_config), prefix="model"), None)
    tensors = load_tensors(location.weights)
    if location.ema is not None:  # the averaged trainable parameters replace the raw ones, as in final/
        tensors.update(load_tensors(location.ema))
    try:
        policy.load_state_dict(tensors)
    except RuntimeError as exc:
        raise InputError(location.weights, None, f"weights do not match the model in {location.run_config}: {exc}") from None
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
