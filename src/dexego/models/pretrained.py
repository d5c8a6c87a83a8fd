"""The policy folder: the one on-disk format of a trained policy, and where it sits in a training run.

A **policy folder** (written by ``Policy.save_pretrained``, read by ``Policy.from_pretrained``)::

    config.json          {"format": "dexego-policy", "version": 2, "config": <PolicyConfig>}
    model.safetensors    every tensor of the Policy, its normaliser included (the ``normalizer_shift`` and
                         ``normalizer_scale`` buffers; the normalisation kind is ``config.normalization``)
    metadata.json        what a client or a report needs without building the model: action space and size,
                         horizon, observation frames, image size, the dexego version, and, for a training
                         checkpoint, its step, epoch, stage and whether the weights are EMA-averaged
    tokenizer/           the fitted action tokenizer (tokens head only)
    backbone/            a Hugging Face backbone's architecture files (hf backbone only)

A **training run** (``dexego train``) keeps every checkpoint as a policy folder, with the trainer's
resumable state beside the policy files::

    <run>/config.json                  the stage configuration
    <run>/checkpoints/step-00000120/   a policy folder (EMA-averaged weights when the run keeps an EMA)
                                       + trainer/: state.json, optimizer.{json,safetensors}, scheduler.json,
                                         rng-rank<r>.{json,safetensors}, and with an EMA the raw weights
                                         (model.safetensors) and the averages (ema.safetensors)
    <run>/final/                       the policy folder of the last step

Format version 1 (runs written before this layout) still loads: its ``final/policy/`` is a policy folder
without metadata.json, and its ``checkpoints/step-N/`` holds the raw weights, ``ema.safetensors`` and the
trainer files side by side, with the model described by the run's ``config.json`` (its ``model`` table).

:func:`locate` turns any path a user may type (a run, ``final/``, ``final/policy/``, a ``step-N`` checkpoint,
a policy folder) into the files that make the policy. This module reads and writes files only: the Policy
itself is built in :mod:`dexego.models.policy`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexego.config import load_config, to_dict
from dexego.errors import InputError
from dexego.models.configuration_policy import PolicyConfig
from dexego.utils.files import read_json, write_json

FORMAT = "dexego-policy"
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
TOKENIZER_DIR = "tokenizer"
BACKBONE_DIR = "backbone"

# The run layout.
RUN_CONFIG = "config.json"  # the stage configuration, at the run's root
CHECKPOINTS = "checkpoints"
FINAL = "final"
TRAINER_DIR = "trainer"  # the resumable state inside a checkpoint
STATE_FILE = "state.json"  # the trainer's position; written last, so its presence marks a complete checkpoint
EMA_FILE = "ema.safetensors"
V1_POLICY_DIR = "policy"  # format 1: final/policy/ held the policy folder
_STEP_DIR = re.compile(r"^step-(\d+)$")


def dexego_version() -> str:
    from dexego import __version__

    return __version__


# ----------------------------------------------------------------------------------------------- writing
def describe(config: PolicyConfig, image_size: int | None = None) -> dict[str, Any]:
    """What a client needs to know about a policy: its action space and size, horizon and observation frames;
    ``"reasoning": True`` only for a policy that generates a plan before acting."""
    from dexego.actions import get_space

    info: dict[str, Any] = {
        "action_space": config.action_space,
        "action_dim": get_space(config.action_space).dim,
        "horizon": config.horizon,
        "obs_frames": config.n_obs_frames,
        "head": config.head,
        "backbone": config.backbone,
    }
    if image_size:
        info["image_size"] = int(image_size)
    if config.head == "tokens" and config.tokens.reasoning:  # generates a plan text before acting (served as "plan")
        info["reasoning"] = True
    return info


def write_policy(folder: str | os.PathLike, policy: Any, state_dict: Mapping[str, Any] | None = None,
                 metadata: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
    """Write the policy files of ``policy`` (a ``dexego.models.Policy``) into the existing ``folder``.

    ``state_dict`` replaces the policy's own tensors (e.g. EMA averages, or a full state gathered from a
    sharded model); ``metadata`` adds entries to metadata.json (a checkpoint's step, epoch, stage, ema).
    The caller publishes ``folder`` atomically (``dexego.utils.files.atomic_directory``)."""
    from safetensors.torch import save_file, save_model

    folder = Path(folder)
    config: PolicyConfig = policy.config
    write_json(folder / CONFIG_FILE, {"format": FORMAT, "version": FORMAT_VERSION, "config": to_dict(config)})
    if state_dict is None:
        save_model(policy, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    else:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    info = {"format": FORMAT, "version": FORMAT_VERSION, "dexego_version": dexego_version(), "created": time.time(),
            **describe(config, policy.image_size), "normalization": config.normalization, **dict(metadata or {})}  # fmt: skip
    write_json(folder / METADATA_FILE, info)
    if config.head == "tokens":
        policy.head.tokenizer.save(folder / TOKENIZER_DIR)
    if config.backbone == "hf":
        policy.backbone.save_architecture(folder / BACKBONE_DIR)
    return folder


# ----------------------------------------------------------------------------------------------- the run layout
def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def trainer_dir(checkpoint: str | os.PathLike) -> Path:
    """Where a checkpoint's resumable trainer state is: ``trainer/``, or the checkpoint itself (format 1)."""
    checkpoint = Path(checkpoint)
    return checkpoint / TRAINER_DIR if (checkpoint / TRAINER_DIR).is_dir() else checkpoint


def is_complete_checkpoint(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return (folder / TRAINER_DIR / STATE_FILE).is_file() or (folder / STATE_FILE).is_file()


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and is_complete_checkpoint(path):
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def raw_weights_file(checkpoint: str | os.PathLike) -> Path:
    """The weights training resumes from: ``trainer/model.safetensors`` when the run keeps an EMA (the policy
    files then hold the averages), else the policy's own ``model.safetensors`` (format 1: always that one)."""
    checkpoint = Path(checkpoint)
    raw = checkpoint / TRAINER_DIR / WEIGHTS_FILE
    return raw if raw.is_file() else checkpoint / WEIGHTS_FILE


def ema_file(checkpoint: str | os.PathLike) -> Path:
    return trainer_dir(checkpoint) / EMA_FILE


def checkpoint_step(folder: str | os.PathLike) -> int:
    """The optimiser step a checkpoint or final/ folder was written at."""
    folder = Path(folder)
    for path, what in ((folder / METADATA_FILE, "policy metadata"), (folder / TRAINER_DIR / STATE_FILE, "checkpoint state"),
                       (folder / STATE_FILE, "checkpoint state")):  # fmt: skip
        if path.is_file():
            step = read_json(path, what, expect=dict).get("step")
            if not isinstance(step, int):
                raise InputError(path, "step", f"expected an integer, got {step!r}")
            return step
    raise InputError(folder, None, f"no {METADATA_FILE} or {STATE_FILE} saying which step this checkpoint is")


# ----------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class PolicyFiles:
    """The files that make one policy (see :func:`locate`)."""

    config: PolicyConfig
    weights: tuple[Path, ...]  # applied in order: a later file's tensors replace an earlier one's (format-1 EMA)
    folder: Path  # the policy folder, or the format-1 training checkpoint
    config_file: Path  # where ``config`` came from
    tokenizer_dir: Path | None = None
    architecture_dir: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.config_file.parent == self.folder:
            return str(self.folder)
        ema = " + EMA" if len(self.weights) > 1 else ""
        return f"{self.folder} (weights{ema}, model from {self.config_file})"


def is_policy_folder(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return (
        (folder / CONFIG_FILE).is_file()
        and (folder / WEIGHTS_FILE).is_file()
        and _is_policy_config(folder / CONFIG_FILE)
    )


def _is_policy_config(path: Path) -> bool:
    try:
        return read_json(path, "policy configuration", expect=dict).get("format") == FORMAT
    except InputError:
        return False


def _read_folder(folder: Path) -> PolicyFiles:
    config_file = folder / CONFIG_FILE
    meta = read_json(config_file, "policy configuration", expect=dict)
    if meta.get("format") != FORMAT:
        raise InputError(config_file, "format", f"expected {FORMAT!r}, got {meta.get('format')!r}")
    version = meta.get("version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise InputError(
            config_file, "version", f"this dexego reads policy formats 1 to {FORMAT_VERSION}, got {version!r}"
        )
    config = load_config(PolicyConfig, meta.get("config", {}), origin=str(config_file), prefix="config")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise InputError(weights, None, "missing (policy weights)")
    metadata = (
        read_json(folder / METADATA_FILE, "policy metadata", expect=dict) if (folder / METADATA_FILE).is_file() else {}
    )
    return PolicyFiles(config, (weights,), folder, config_file,
                       folder / TOKENIZER_DIR if config.head == "tokens" else None,
                       folder / BACKBONE_DIR if config.backbone == "hf" else None, metadata)  # fmt: skip


def _read_v1_checkpoint(checkpoint: Path) -> PolicyFiles:
    """A format-1 training checkpoint: raw weights (+ ema.safetensors) in the model of its run's config.json."""
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINTS else checkpoint.parent
    run_config = run_dir / RUN_CONFIG
    if not run_config.is_file():
        raise InputError(checkpoint, None, f"training checkpoint without a policy/ export, and its run's {run_config} "
                                           "(which holds the model configuration) is missing")  # fmt: skip
    model = read_json(run_config, "run configuration", expect=dict).get("model", {})
    if not isinstance(model, dict):
        raise InputError(run_config, "model", f"expected a table of policy settings, got {type(model).__name__}")
    config = load_config(PolicyConfig, model, origin=str(run_config), prefix="model")
    ema = checkpoint / EMA_FILE
    weights = (checkpoint / WEIGHTS_FILE, ema) if ema.is_file() else (checkpoint / WEIGHTS_FILE,)
    state = read_json(checkpoint / STATE_FILE, "checkpoint state", expect=dict)
    return PolicyFiles(
        config, weights, checkpoint, run_config, metadata={"step": state.get("step"), "ema": ema.is_file()}
    )


def _newest(run_dir: Path) -> Path | None:
    """final/ or the latest complete step-N checkpoint, whichever has the higher step (final/ on a tie)."""
    final = run_dir / FINAL
    final_ok = is_policy_folder(final) or is_policy_folder(final / V1_POLICY_DIR)
    latest = latest_checkpoint(run_dir)
    if not final_ok or latest is None:
        return final if final_ok else latest
    return latest if checkpoint_step(latest) > checkpoint_step(final) else final


def locate(path: str | os.PathLike) -> PolicyFiles:
    """The policy behind a run folder, ``final/``, a ``step-N`` checkpoint or a policy folder (either format).

    Raises one InputError naming ``path`` and every place that was looked at when none holds a policy."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "not found (expected a run folder, a checkpoint folder or a policy folder)")
    if not path.is_dir():
        raise InputError(path, None, "is a file; expected a run folder, a checkpoint folder or a policy folder")
    for folder in (path, path / V1_POLICY_DIR):
        if (
            (folder / CONFIG_FILE).is_file()
            and (folder / WEIGHTS_FILE).is_file()
            and _is_policy_config(folder / CONFIG_FILE)
        ):
            return _read_folder(folder)
    if (path / WEIGHTS_FILE).is_file() and (path / STATE_FILE).is_file():
        return _read_v1_checkpoint(path)
    newest = _newest(path)
    if newest is not None:
        return locate(newest)
    looked = [f"{CONFIG_FILE} + {WEIGHTS_FILE} (a policy folder)", f"{V1_POLICY_DIR}/{CONFIG_FILE} (a format-1 final/ folder)",
              f"{WEIGHTS_FILE} + {STATE_FILE} (a format-1 training checkpoint)",
              f"{FINAL}/ or {CHECKPOINTS}/step-*/ (a run folder)"]  # fmt: skip
    runs = sorted(child.name for child in path.iterdir() if (child / FINAL).is_dir() or (child / CHECKPOINTS).is_dir())
    hint = f"; it holds the run folders {', '.join(runs)}: give one of them" if runs else ""
    raise InputError(path, None, f"no policy here; looked for {'; '.join(looked)}{hint}")
