"""From a stage config to what the trainer needs: datasets (``dexego.data``) and a policy (``dexego.models``).

Samples come from ``dexego.data.SampleDataset`` (map-style, so a resumed run
can address exactly the samples it has not seen yet), reading frames from the
decoded-frame cache (``data.sample.frame_cache``) instead of seeking in video. The datasets are
``data.sources`` or the ``data.mixture`` file, drawn by ``dexego.data.mixtures``' rule. Each
is split by episode; its held-out episodes form the validation sets
``val_human`` (human embodiment) and ``val_robot`` (any robot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dexego.actions import get_space
from dexego.config import load_config
from dexego.data.mixtures import MixtureEntry, check_dataset_paths, epoch_quotas, read_mixture
from dexego.errors import ConfigError, InputError
from dexego.train.config import StageConfig
from dexego.train.trainer import StageData, Trainer, TrainResult, make_accelerator, seed_everything

HUMAN = "human"


def stage_mixture(config: StageConfig) -> tuple[MixtureEntry, ...]:
    """The stage's datasets: ``data.sources``, or the entries of the ``data.mixture`` file."""
    if config.data.mixture:
        return read_mixture(config.data.mixture)
    if not config.data.sources:
        raise ConfigError(
            'data.sources: no dataset given; add [[data.sources]] tables with path = "..." (and weight), '
            'or data.mixture = "a mixture file"'
        )
    return config.data.sources


def check_data_sources(config: StageConfig) -> tuple[MixtureEntry, ...]:
    """Fail before anything starts when a dataset of the mixture is missing; returns the mixture."""
    entries = stage_mixture(config)
    if config.data.mixture:
        check_dataset_paths(entries, "datasets", mixture_file=config.data.mixture)
    else:
        check_dataset_paths(entries, "data.sources")
    return entries


def check_inputs(config: StageConfig):
    """Every check that needs no training: the model config, the datasets, the ``init_from`` weights.

    Returns the policy configuration."""
    from dexego.train import checkpoints as ckpt

    model = policy_config(config)  # config mistakes first, then missing files
    sample_config(config, model)  # what the run would reject (image_size, history, ...) --check rejects too
    out = config.output_path
    if out.exists() and not out.is_dir():
        raise InputError(out, "output_dir", "exists and is not a folder (the run folder to create or continue)")
    check_data_sources(config)
    resuming = config.resume == "auto" and ckpt.latest_checkpoint(config.output_path) is not None
    if config.init_from and not resuming:
        ckpt.resolve_weights(config.init_from)
    return model


def policy_config(config: StageConfig):
    """The stage's policy configuration (typed and checked against the data settings when the config was loaded)."""
    return config.model


def sample_config(config: StageConfig, model=None) -> Any:
    """The training samples' options: ``data.sample`` with what the model fixes (``StageConfig.sample_options``)."""
    from dexego.data import SampleConfig

    try:
        options = config.sample_options()
    except ValueError as exc:
        raise ConfigError(f"stage config: {exc}") from None
    return load_config(SampleConfig, options, origin="stage config", prefix="data.sample")


@dataclass(frozen=True)
class EpisodeSelection:
    """One dataset of a stage and the episodes it trains on and validates on (split name -> episodes)."""

    path: str | Path
    label: str
    train: tuple[int, ...] = ()
    val: Mapping[str, Sequence[int]] = field(default_factory=dict)


def build_stage_data(config: StageConfig, model=None, selections: Sequence[EpisodeSelection] | None = None,
                     action_stats: Mapping[str, np.ndarray] | None = None, data_hours: float | None = None) -> StageData:  # fmt: skip
    """The one builder of training data (``dexego train``, the demo, the experiments).

    Without ``selections`` the datasets are the stage's mixture, each split by episode (``data.val_fraction``)
    into training episodes and the validation sets ``val_human`` / ``val_robot``, drawn by the mixture's
    weights; with them, exactly those episodes (every sample once per epoch). Each dataset is opened once
    and its samples read the decoded-frame cache (``data.sample.frame_cache``). ``action_stats`` (default:
    the datasets' stored statistics) and ``data_hours`` (default: the hours of human training footage)
    override what is computed."""
    from dexego.data import SampleDataset, SampleSource
    from dexego.data.augment import flip_dataset_stats
    from dexego.data.features import ACTION, STORED_SPACE
    from dexego.data.reader import Dataset
    from dexego.data.stats import aggregate_stats

    model = model or policy_config(config)
    samples = sample_config(config)
    opened: dict[str, Dataset] = {}

    def open_dataset(path) -> Dataset:
        key = str(Path(path).resolve())
        if key not in opened:
            opened[key] = Dataset(path, image_size=samples.image_size)
        return opened[key]

    entries = None
    field_name = "datasets" if config.data.mixture else "data.sources"
    if selections is None:
        entries = check_data_sources(config)
        selections = [
            _split_by_embodiment(config, entry, open_dataset(entry.path), i, field_name)
            for i, entry in enumerate(entries)
        ]
    train_sets, train_sources, val_sources, stats, human_hours = [], [], {}, [], 0.0
    for i, selection in enumerate(selections):
        dataset = open_dataset(selection.path)
        if selection.train:
            source = SampleSource(selection.path, samples, list(selection.train), selection.label, flip=config.data.flip,
                                  dataset=dataset)  # fmt: skip
            if source.num_samples == 0:
                raise InputError(selection.path, f"{field_name}[{i}]", "no training samples (episodes too short?)")
            source.prepare_frame_cache(progress=config.loop.progress)
            train_sources.append(source)
            train_sets.append(SampleDataset([source]))
            human_hours += sum(float(dataset.episode_lengths[ep]) / dataset.fps / 3600.0 for ep in selection.train
                               if dataset.episode_meta(ep)["embodiment"] == HUMAN)  # fmt: skip
            if ACTION in dataset.stats and config.data.representation == STORED_SPACE:
                if config.data.flip.probability > 0:  # the normaliser sees what training sees: some samples mirrored
                    stats.append(flip_dataset_stats(dataset, ACTION, config.data.flip, STORED_SPACE))
                else:
                    stats.append(dataset.stats[ACTION])
        for split, episodes in selection.val.items():
            if episodes:
                source = SampleSource(selection.path, samples, list(episodes), selection.label, dataset=dataset)
                source.prepare_frame_cache(progress=config.loop.progress)
                val_sources.setdefault(split, []).append(source)
    if not train_sets:
        raise InputError(None, field_name, "no training episodes")
    if action_stats is None and len(stats) == len(train_sets):
        action_stats = stats[0] if len(stats) == 1 else aggregate_stats(stats)
    target = None
    if model.action_frame == "relative":  # the head predicts motion: its normaliser is fitted on the relative chunks
        from dexego.data.targets import target_stats

        try:
            target = target_stats(train_sources, model.action_frame)
        except ValueError as exc:
            raise InputError(selections[0].path, field_name, str(exc)) from None
        if action_stats is None:  # the state still needs statistics of the absolute hands
            action_stats = target_stats(train_sources, "absolute")
    if action_stats is None and get_space(config.data.representation).is_robot:
        # Robot spaces are not stored: their statistics (hand-space parts over every sample, joints over the robot
        # samples that carry them) come from the training samples' chunks.
        from dexego.data.targets import target_stats

        action_stats = target_stats(train_sources, "absolute")
    val = {split: SampleDataset(sources) for split, sources in val_sources.items() if sources}
    if entries is None:
        return StageData(train_sets, None, val, data_hours=data_hours if data_hours is not None else human_hours or None,
                         action_stats=action_stats, target_stats=target)  # fmt: skip
    quotas = epoch_quotas(entries, [len(d) for d in train_sets])
    return StageData(train_sets, list(quotas), val, data_hours=data_hours if data_hours is not None else human_hours or None,
                     action_stats=action_stats, target_stats=target, samples_per_epoch=round(float(quotas.sum())))  # fmt: skip


def _split_by_embodiment(
    config: StageConfig, entry: MixtureEntry, dataset, index: int, field_name: str
) -> EpisodeSelection:
    """A mixture dataset's training episodes and its held-out ones as ``val_human`` / ``val_robot``."""
    from dexego.data import split_episodes

    train_eps, val_eps = split_episodes(
        dataset.num_episodes, config.data.val_fraction, config.data.split_seed, entry.label
    )
    if not train_eps:
        raise InputError(entry.path, f"{field_name}[{index}]", "no training episodes left after the validation split")
    val = {split: [ep for ep in val_eps if (dataset.episode_meta(ep)["embodiment"] == HUMAN) == wanted_human]
           for split, wanted_human in (("val_human", True), ("val_robot", False))}  # fmt: skip
    return EpisodeSelection(entry.path, entry.label, tuple(train_eps), val)


def build_policy(config: StageConfig, action_stats: Mapping[str, np.ndarray] | None = None, model=None,
                 target_stats: Mapping[str, np.ndarray] | None = None):  # fmt: skip
    from dexego.models import Policy

    return Policy(model or policy_config(config), action_stats, target_stats=target_stats)


def run_stage(config: StageConfig, policy=None, data: StageData | None = None) -> TrainResult:
    """Train one stage: check the inputs, build data and policy (unless given), run the loop."""
    model = check_inputs(config) if data is None else None
    accelerator = make_accelerator(config.loop.mixed_precision)
    seed_everything(config.seed)
    if data is None:
        data = build_stage_data(config, model)
    if policy is None:
        policy = build_policy(config, data.action_stats, model, data.target_stats)
    return Trainer(config, policy, data, accelerator).fit()
