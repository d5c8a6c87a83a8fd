"""The dexego dataset engine: LeRobot v3.0 episodes on disk, samples, loaders, statistics, mixtures."""

from dexego.data.episode import Episode
from dexego.data.loader import (
    LoaderConfig,
    SampleDataset,
    SampleSource,
    SampleStream,
    make_loader,
    split_episodes,
)
from dexego.data.mixtures import MixtureEntry, MixtureSampler, read_mixture
from dexego.data.reader import Dataset
from dexego.data.samples import SampleConfig, build_sample
from dexego.data.writer import DatasetWriter, WriterConfig

__all__ = [
    "Dataset",
    "DatasetWriter",
    "Episode",
    "LoaderConfig",
    "MixtureEntry",
    "MixtureSampler",
    "SampleConfig",
    "SampleDataset",
    "SampleSource",
    "SampleStream",
    "WriterConfig",
    "build_sample",
    "make_loader",
    "read_mixture",
    "split_episodes",
]
