"""From a stage config to what the trainer needs: datasets (``dexego.data``) and a policy (``dexego.models``).

Samples come from ``dexego.data.SampleDataset`` (map-style, so a resumed run
can address exactly the samples it has not seen yet), reading frames from the
decoded-frame cache (``data.sample.frame_cache``) instead of seeking in video. The datasets are
``data.sources`` or the ``data.mixture`` file, drawn by ``dexego.data.mixtures``' rule. Each
is split by episode; its held-out episodes form the validation sets
``val_human`` (human embodiment) and ``val_robot`` (any robot).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

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
            "data.sources: no dataset given; add [[data.sources]] tables with path = \"...\" (and weight), "
            "or data.mixture = \"a mixture file\""
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


def build_stage_data(config: StageConfig, model=None) -> StageData:
    from dexego.data import SampleDataset, SampleSource, split_episodes
    from dexego.data.features import ACTION, STORED_SPACE
    from dexego.data.reader import Dataset
    from dexego.data.stats import aggregate_stats

    entries = check_data_sources(config)
    model = model or policy_config(config)
    samples = sample_config(config, model)
    train_sets, val_sources, stats, human_hours = [], {"val_human": [], "val_robot": []}, [], 0.0
    train_sources = []
    field = "datasets" if config.data.mixture else "data.sources"
    for i, entry in enumerate(entries):
        probe = Dataset(entry.path)
        name = entry.label
        train_eps, val_eps = split_episodes(probe.num_episodes, config.data.val_fraction, config.data.split_seed, name)
        if not train_eps:
            raise InputError(entry.path, f"{field}[{i}]", "no training episodes left after the validation split")
        source = SampleSource(entry.path, samples, train_eps, name, flip=config.data.flip)
        if source.num_samples == 0:
            raise InputError(entry.path, f"{field}[{i}]", "no training samples (episodes too short?)")
        source.prepare_frame_cache(progress=config.loop.progress)
        train_sources.append(source)
        train_sets.append(SampleDataset([source]))
        for ep in train_eps:
            if probe.episode_meta(ep)["embodiment"] == HUMAN:
                human_hours += float(probe.episode_lengths[ep]) / probe.fps / 3600.0
        for split, wanted_human in (("val_human", True), ("val_robot", False)):
            eps = [ep for ep in val_eps if (probe.episode_meta(ep)["embodiment"] == HUMAN) == wanted_human]
            if eps:
                val_sources[split].append(SampleSource(entry.path, samples, eps, name))
                val_sources[split][-1].prepare_frame_cache(progress=config.loop.progress)
        if ACTION in probe.stats and config.data.representation == STORED_SPACE:
            stats.append(probe.stats[ACTION])
    action_stats = None
    if len(stats) == len(entries):
        action_stats = stats[0] if len(stats) == 1 else aggregate_stats(stats)
    target = None
    if model.action_frame == "relative":  # the head predicts motion: its normaliser is fitted on the relative chunks
        from dexego.data.targets import target_stats

        try:
            target = target_stats(train_sources, model.action_frame)
        except ValueError as exc:
            raise InputError(entries[0].path, field, str(exc)) from None
        if action_stats is None:  # the state still needs statistics of the absolute hands
            action_stats = target_stats(train_sources, "absolute")
    val = {split: SampleDataset(sources) for split, sources in val_sources.items() if sources}
    quotas = epoch_quotas(entries, [len(d) for d in train_sets])
    return StageData(train_sets, list(quotas), val, data_hours=human_hours or None, action_stats=action_stats,
                     target_stats=target, samples_per_epoch=round(float(quotas.sum())))


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
