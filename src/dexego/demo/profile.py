"""What a demo run does: the data to record, the policies to compare, the evaluation. One TOML per profile.

A profile is a folder (``dexego/demo/profiles/<name>/`` or any folder given by
path) holding ``demo.toml`` (a :class:`DemoProfile`) and the two stage configs
it names (``pretrain.toml``, ``finetune.toml``): ordinary ``dexego train``
stage files, read with :func:`dexego.train.load_stage_config`. The demo fills
in their datasets, output directories and ``init_from``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dexego.config import load_config
from dexego.errors import ConfigError, InputError

PROFILES_DIR = Path(__file__).parent / "profiles"
PROFILE_FILE = "demo.toml"


@dataclass(frozen=True)
class DataPlan:
    """Simulator demonstrations to record. Episodes are per task; each task gets its own dataset."""

    human_tasks: tuple[str, ...] = ("Push-Box", "Stack-Can", "Stack-Can-Left")
    human_episodes: int = 4
    robot_tasks: tuple[str, ...] = ("Push-Box",)
    robot_episodes: int = 4
    heldout_robot_episodes: int = 1  # per robot task, other seeds: overlays and motion errors on unseen episodes
    image_size: int = 64
    seed: int = 0

    def __post_init__(self):
        if not self.robot_tasks:  # human_tasks may be empty when no arm is pretrained (checked by DemoProfile)
            raise ValueError("robot_tasks must not be empty")
        if self.human_episodes < 2 or self.robot_episodes < 2:
            raise ValueError("human_episodes and robot_episodes must be >= 2 (one is held out for validation)")
        if self.heldout_robot_episodes < 1 or self.image_size < 16:
            raise ValueError("heldout_robot_episodes must be >= 1 and image_size >= 16")


@dataclass(frozen=True)
class LookPlan:
    """The look protocol of a run: which of the 25 (room, table) looks each kind of data and evaluation uses.

    ``robot``: robot demonstrations (evaluation split "seen"); ``human``: human demonstrations (split
    "human"); ``evaluation``: looks no demonstration contains (split "unseen"). The three are disjoint.
    Defaults: ``dexego.sim.scene``'s ROBOT_LOOKS, HUMAN_LOOKS, EVAL_LOOKS.
    """

    robot: tuple[tuple[int, int], ...] = ((1, 1), (2, 1), (3, 1))
    human: tuple[tuple[int, int], ...] = ()  # () = the scene's HUMAN_LOOKS
    evaluation: tuple[tuple[int, int], ...] = ()  # () = the scene's EVAL_LOOKS

    def __post_init__(self):
        from dexego.sim.scene import EVAL_LOOKS, HUMAN_LOOKS, check_visual_config

        fixed = {"robot": self.robot, "human": self.human or HUMAN_LOOKS, "evaluation": self.evaluation or EVAL_LOOKS}
        for name, looks in fixed.items():
            looks = tuple((int(r), int(t)) for r, t in looks)
            if not looks or len(set(looks)) != len(looks):
                raise ValueError(f"looks.{name} must list distinct (room, table) pairs, got {list(looks)}")
            for room, table in looks:
                check_visual_config(room, table)
            object.__setattr__(self, name, looks)
        for a, b in (("robot", "human"), ("robot", "evaluation"), ("human", "evaluation")):
            shared = set(getattr(self, a)) & set(getattr(self, b))
            if shared:
                raise ValueError(f"looks.{a} and looks.{b} share {sorted(shared)}: the look split must be disjoint")

    def split(self, name: str) -> tuple[tuple[int, int], ...]:
        """The looks of an evaluation split: seen -> robot, human -> human, unseen -> evaluation."""
        return {"seen": self.robot, "human": self.human, "unseen": self.evaluation}[name]


DEMO_FIELDS = ("seed", "output_dir", "init_from", "data.sources", "loop.max_steps")  # what the demo fills in


@dataclass(frozen=True)
class Arm:
    """One policy of the comparison, and the controls that tell visual diversity from human motion.

    ``pretrained``: fine-tuned from a human-pretrained model (else from scratch); ``pretraining``: on the human
    demonstrations as recorded ("human") or with their hand motion shuffled between episodes ("shuffled": the
    same videos, actions that do not belong to them); ``finetune``: False evaluates the pretrained model without
    robot data (human only); ``robot_fraction``: share of the robot episodes it fine-tunes on (EgoVLA's 50 %);
    ``robot_looks``: "robot" (the robot looks) or "robot+human" (robot demonstrations recorded on the robot and
    the human looks: the human data's visual diversity without its motion); ``finetune_steps``: 0 = the fine-tuning
    config's, else that many steps (a matched-compute control).
    """

    name: str
    pretrained: bool = True
    robot_fraction: float = 1.0
    pretraining: Literal["human", "shuffled"] = "human"
    finetune: bool = True
    robot_looks: Literal["robot", "robot+human"] = "robot"
    finetune_steps: int = 0
    finetune_overrides: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"arm name must be letters, digits, '-' or '_', got {self.name!r}")
        if not 0.0 < self.robot_fraction <= 1.0:
            raise ValueError(f"robot_fraction must be in (0, 1], got {self.robot_fraction}")
        if self.pretraining not in ("human", "shuffled") or self.robot_looks not in ("robot", "robot+human"):
            raise ValueError(f"pretraining must be human or shuffled and robot_looks robot or robot+human, "
                             f"got {self.pretraining!r} and {self.robot_looks!r}")  # fmt: skip
        if not self.finetune and not self.pretrained:
            raise ValueError(
                f"arm {self.name!r}: without pretraining and without fine-tuning there is nothing to evaluate"
            )
        if self.finetune_steps < 0:
            raise ValueError(f"finetune_steps must be >= 0, got {self.finetune_steps}")
        object.__setattr__(self, "finetune_overrides", tuple(self.finetune_overrides))
        for item in self.finetune_overrides:
            key = str(item).partition("=")[0].strip()
            if "=" not in str(item) or not key:
                raise ValueError(f"arm {self.name!r}: finetune_overrides entry {item!r} must look like key=value")
            if key in DEMO_FIELDS:
                raise ValueError(f"arm {self.name!r}: finetune_overrides cannot set {key} (the demo sets it; "
                                 f"use finetune_steps for the step budget)")  # fmt: skip
        if self.finetune_overrides and not self.finetune:
            raise ValueError(f"arm {self.name!r}: finetune_overrides need finetune = true")


@dataclass(frozen=True)
class EvalPlan:
    """The demo's evaluation: rollouts per task and split, splits, rollout horizon, query period, what to keep."""

    rollouts: int = 2  # per task and split
    splits: tuple[str, ...] = ("seen", "human", "unseen")
    horizon: int = 0  # control steps per rollout; 0 = the task's own
    query_every: int = 4  # control steps between policy queries
    videos: int = 1  # rollout videos kept per arm (the first rollouts of the first split)
    overlays: int = 4  # overlay PNGs per arm on held-out robot frames
    motion_samples: int = 32  # held-out robot samples for the motion errors (0 = all)

    def __post_init__(self):
        if self.rollouts < 1:
            raise ValueError("rollouts must be >= 1")
        unknown = set(self.splits) - {"seen", "human", "unseen"}
        if not self.splits or unknown or len(set(self.splits)) != len(self.splits):
            raise ValueError(f"splits must be distinct names among seen, human, unseen; got {list(self.splits)}")
        if self.horizon < 0 or self.query_every < 1 or min(self.videos, self.overlays, self.motion_samples) < 0:
            raise ValueError("horizon, videos, overlays and motion_samples must be >= 0, query_every >= 1")


@dataclass(frozen=True)
class DemoProfile:
    """A demo profile (``demo.toml``): the data to record, the compared arms, the evaluation plan, the stage configs."""

    name: str = "quick"
    description: str = ""
    data: DataPlan = field(default_factory=DataPlan)
    looks: LookPlan = field(default_factory=LookPlan)
    arms: tuple[Arm, ...] = (Arm("human_pretrained", True), Arm("no_pretraining", False))
    eval: EvalPlan = field(default_factory=EvalPlan)
    train_seed: int = 0  # seed of every training stage (replaces the stage configs' own; data and rollouts keep theirs)
    pretrain: str = "pretrain.toml"  # stage configs, relative to the profile folder
    finetune: str = "finetune.toml"

    def __post_init__(self):
        names = [a.name for a in self.arms]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"arms need unique names, got {names}")
        reserved = sorted(set(names) & {"pretrain", "expert", "hold"})
        if reserved:
            raise ValueError(f"arm names {reserved} are reserved (the pretraining run and the reference rows)")
        if not self.data.human_tasks and any(a.pretrained for a in self.arms):
            raise ValueError("data.human_tasks must not be empty: an arm is pretrained on human demonstrations")


@dataclass(frozen=True)
class LoadedProfile:
    profile: DemoProfile
    folder: Path
    pretrain: dict  # the stage configs as read (the demo fills in paths before validating them)
    finetune: dict

    @property
    def needs_pretraining(self) -> bool:
        return any(a.pretrained for a in self.profile.arms)


def profile_names() -> list[str]:
    return sorted(p.name for p in PROFILES_DIR.iterdir() if (p / PROFILE_FILE).is_file())


def resolve_profile_dir(profile: str | Path) -> Path:
    """A built-in profile name (micro, quick, full) or a folder holding demo.toml."""
    path = Path(profile)
    if (path / PROFILE_FILE).is_file():
        return path
    if path.is_file() and path.name == PROFILE_FILE:
        return path.parent
    builtin = PROFILES_DIR / str(profile)
    if (builtin / PROFILE_FILE).is_file():
        return builtin
    raise ConfigError(
        f"unknown demo profile {str(profile)!r}; built-in: {', '.join(profile_names())}, or a folder with {PROFILE_FILE}"
    )


def load_profile(profile: str | Path, overrides: list[str] | None = None) -> LoadedProfile:
    folder = resolve_profile_dir(profile)
    config = load_config(DemoProfile, folder / PROFILE_FILE, overrides)
    stages = {}
    for stage in ("pretrain", "finetune"):
        path = folder / getattr(config, stage)
        if not path.is_file():
            raise InputError(folder / PROFILE_FILE, stage, f"stage config {path} not found")
        try:
            stages[stage] = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InputError(path, None, f"invalid TOML: {exc}") from None
    return LoadedProfile(config, folder, stages["pretrain"], stages["finetune"])
