"""The dexego dataset engine: LeRobot v3.0 episodes on disk, samples, loaders, statistics, mixtures."""

from dexego.data.episode import Episode
from dexego.data.writer import DatasetWriter, WriterConfig

__all__ = ["DatasetWriter", "Episode", "WriterConfig"]
