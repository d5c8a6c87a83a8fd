"""The configuration of one training stage (``dexego train CONFIG.toml``).

A recipe is a sequence of stages (human pretraining -> aligned mid-training ->
robot fine-tuning), one TOML file each; a stage starts from the previous
stage's output through ``init_from``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dexego.config import load_config
from dexego.data.augment import FlipConfig
from dexego.data.mixtures import MixtureEntry, check_entries
from dexego.errors import ConfigError
from dexego.models.configuration_policy import PolicyConfig

# One dataset of the mixture: ``path`` and ``weight`` (share relative to the others) or ``scale``
# (x its natural share); see dexego.data.mixtures. Leave both out everywhere to draw every sample once per epoch.
DataSource = MixtureEntry
SEED_LIMIT = 2**31  # seeds feed numpy, torch and the samplers' derived seeds


@dataclass(frozen=True)
class DataConfig:
    """The data mixture, its train/validation split (by episode) and the sample options.

    The mixture is ``sources`` (inline ``[[data.sources]]`` tables) or ``mixture``, a mixture
    file (``dexego.data.mixtures``) whose path is relative to the stage config file.
    """

    sources: tuple[MixtureEntry, ...] = ()
    mixture: str = ""
    val_fraction: float = 0.1  # share of each dataset's episodes held out for validation
    split_seed: int = 0
    representation: str = ""  # the action space of the samples: "" = model.action_space (anything else must equal it)
    # extra options of dexego.data's sample construction; history, horizon, action_space and image_size come from
    # the model (StageConfig.sample_options) and may be given here only with the same values
    sample: dict[str, Any] = field(default_factory=dict)
    num_workers: int = 0
    flip: FlipConfig = field(
        default_factory=FlipConfig
    )  # VITRA's flip augmentation of training samples (off by default)

    def __post_init__(self):
        if self.sources and self.mixture:
            raise ValueError("give the datasets inline (data.sources) or as a mixture file (data.mixture), not both")
        check_entries(self.sources)
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.num_workers < 0:
            raise ValueError("num_workers must be >= 0")


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimiser (AdamW, Adam or SGD): learning rate, weight decay (matrices only), betas, clipping."""

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.9  # sgd only
    grad_clip_norm: float = 1.0  # 0 = no clipping

    def __post_init__(self):
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        for name in ("weight_decay", "eps", "momentum", "grad_clip_norm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if not all(math.isfinite(b) and 0 <= b < 1 for b in self.betas[:2]):
            raise ValueError(f"betas must be in [0, 1), got {self.betas}")
        if len(self.betas) != 2:
            raise ValueError("betas must hold two numbers")


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule over optimiser steps, after a linear warm-up.

    ``cosine`` decays to ``min_lr_ratio * lr`` at the last step; ``constant``
    keeps ``lr``; ``step`` multiplies by ``gamma`` at each milestone
    (in epochs or steps, by ``milestone_unit``), as EgoVLA's 2e-5 -> 2e-6 after 100 epochs.
    """

    kind: Literal["cosine", "constant", "step"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    milestones: tuple[float, ...] = ()
    milestone_unit: Literal["epoch", "step"] = "epoch"
    gamma: float = 0.1

    def __post_init__(self):
        if self.warmup_steps < 0:
            raise ValueError("warmup_steps must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError("min_lr_ratio must be in [0, 1]")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError("milestones must be increasing")


@dataclass(frozen=True)
class LoopConfig:
    """Length, batching, precision, and how often to log, validate and checkpoint (in optimiser steps)."""

    epochs: int = 1
    max_steps: int = 0  # > 0: stop after this many optimiser steps (overrides epochs)
    batch_size: int = 8  # per process, per micro-batch
    grad_accum: int = 1  # micro-batches per optimiser step
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    log_every: int = 10
    val_every: int = 0  # 0 = at the end of each epoch only
    val_batches: int = 0  # 0 = the whole validation set
    checkpoint_every: int = 0  # 0 = at the end of each epoch only
    keep_last: int = 3
    ema_decay: float = 0.0  # 0 = no EMA; e.g. 0.999
    progress: bool = True
    max_loss: float = 1e6  # a training loss above this stops the run as diverged (0 = no limit)

    def __post_init__(self):
        if self.max_steps < 0 or self.epochs < 0:
            raise ValueError(
                f"epochs and max_steps must be >= 0 (max_steps 0 = by epochs), got epochs={self.epochs}, max_steps={self.max_steps}"
            )
        if self.epochs < 1 and self.max_steps < 1:
            raise ValueError("set epochs >= 1 or max_steps >= 1")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("batch_size and grad_accum must be >= 1")
        if self.keep_last < 1:
            raise ValueError("keep_last must be >= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")
        if not (self.max_loss >= 0 and math.isfinite(self.max_loss)):
            raise ValueError(f"max_loss must be a finite number >= 0 (0 = no limit), got {self.max_loss}")
        if min(self.log_every, self.val_every, self.val_batches, self.checkpoint_every) < 0:
            raise ValueError("log_every, val_every, val_batches and checkpoint_every must be >= 0")


@dataclass(frozen=True)
class StageConfig:
    """One training stage. ``model`` is the policy configuration (``dexego.models.PolicyConfig``).

    The data settings the model fixes (action space, horizon, observation history, frame size) come from
    ``model``; ``data.representation`` and ``data.sample`` may repeat them only with the same values
    (checked here, the one place: :meth:`sample_options`)."""

    name: str = "stage"
    output_dir: str = "runs/stage"
    seed: int = 0
    init_from: str = ""  # a run directory or checkpoint of an earlier stage ("" = from scratch)
    # tensors not copied by init_from (name prefixes): by default the policy's normaliser statistics,
    # which then come from this stage's data rather than the earlier stage's
    init_skip: tuple[str, ...] = ("normalizer_shift", "normalizer_scale")
    resume: Literal["auto", "never"] = "auto"  # auto: continue from the output dir's last checkpoint
    freeze: tuple[str, ...] = ()  # parameter-name prefixes to keep fixed, e.g. "backbone.vision"
    data: DataConfig = field(default_factory=DataConfig)
    model: PolicyConfig = field(default_factory=PolicyConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)

    def __post_init__(self):
        for name, value in (("seed", self.seed), ("data.split_seed", self.data.split_seed)):
            if not 0 <= value < SEED_LIMIT:
                raise ValueError(f"{name} must be in 0..{SEED_LIMIT - 1}, got {value}")
        if not self.output_dir:
            raise ValueError("output_dir must name a folder")
        if not self.data.representation:  # derived from the model
            object.__setattr__(self, "data", dataclasses.replace(self.data, representation=self.model.action_space))
        self.sample_options()  # a data setting that contradicts the model fails when the config is loaded
        if self.data.flip.probability > 0:
            from dexego.data.augment import check_flippable

            try:
                check_flippable(self.model.action_space, self.data.flip.embodiments)
            except ValueError as exc:
                raise ValueError(f"data.flip: {exc}") from None

    def sample_options(self) -> dict[str, Any]:
        """The options of the training samples (``dexego.data.SampleConfig``): ``data.sample`` plus what the model fixes.

        The one place where data settings are derived from the model and checked against it."""
        derived = self.model.sample_settings()
        if self.data.representation != self.model.action_space:
            raise ValueError(f"data.representation {self.data.representation!r} differs from model.action_space "
                             f"{self.model.action_space!r} (leave data.representation out to use the model's)")  # fmt: skip
        sources = {"history": "model.n_obs_frames - 1", "horizon": "model.horizon", "action_space": "model.action_space",
                   "image_size": f"model.{self.model.backbone}.image_size", "future_frame": "model.tokens.dynamics_dir",
                   "plan": "model.tokens.reasoning"}  # fmt: skip
        for key, value in derived.items():
            given = self.data.sample.get(key)
            same = given is None or (list(given) == list(value) if isinstance(value, tuple) else given == value)
            if not same:
                raise ValueError(f"data.sample.{key} = {given!r} differs from {sources[key]} ({list(value) if isinstance(value, tuple) else value!r}); "
                                 f"leave data.sample.{key} out to use the model's")  # fmt: skip
        return {**self.data.sample, **derived}

    @property
    def output_path(self) -> Path:
        return Path(self.output_dir)


def load_stage_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> StageConfig:
    """Read a stage config (TOML/JSON file, a built-in config name such as ``cpu/pretrain``, or a dict) with
    ``key=value`` overrides.

    A relative ``data.mixture`` is made relative to the config file's folder (the working
    directory for a dict or a built-in config, see ``dexego.configs``)."""
    if isinstance(source, (str, Path)) and not Path(source).exists():
        import tomllib

        from dexego.configs import config_path

        name = str(source)
        source = tomllib.loads(config_path(name).read_text(encoding="utf-8"))  # an unknown name lists the built-in ones
        config = load_config(StageConfig, with_robot_joints(source, overrides), origin=f"built-in config {name}")
    elif isinstance(source, dict):
        config = load_config(StageConfig, with_robot_joints(source, overrides))
    else:
        config = load_config(
            StageConfig, with_robot_joints(read_config_file(Path(source)), overrides), origin=str(source)
        )
    mixture = Path(config.data.mixture)
    if config.data.mixture and not mixture.is_absolute() and not isinstance(source, dict):
        mixture = Path(source).parent / mixture
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, mixture=str(mixture)))
    return config


def read_config_file(path: Path) -> dict[str, Any]:
    import json
    import tomllib

    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text config file (expected TOML or JSON in UTF-8)") from None
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc


def with_robot_joints(data: dict[str, Any], overrides: list[str] | None = None) -> dict[str, Any]:
    """The raw stage config with its overrides applied and ``model.robot.description`` (a robot YAML or a built-in
    name) read into the robot's name, hand joints and limits (:mod:`dexego.actions.robot`), so the typed policy
    config holds them and a saved policy needs no robot file."""
    import copy

    from dexego.config import apply_overrides

    data = apply_overrides(copy.deepcopy(data), overrides)
    model = data.get("model")
    robot = model.get("robot") if isinstance(model, dict) else None
    if (
        not isinstance(robot, dict)
        or not robot.get("description")
        or robot.get("left_joints")
        or robot.get("right_joints")
    ):
        return data
    from dexego.retarget.robots import robot_action_config

    filled = dataclasses.asdict(robot_action_config(robot["description"]))
    if robot.get("name") and robot["name"] != filled["name"]:
        raise ConfigError(
            f"model.robot.name {robot['name']!r} differs from the name in {robot['description']} ({filled['name']!r})"
        )
    model["robot"] = filled
    return data
