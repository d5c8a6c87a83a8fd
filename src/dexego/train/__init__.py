"""Training stages: config, loop (Accelerate), checkpoints with exact resume, metrics logging."""

from dexego.train.config import (
    DataConfig,
    DataSource,
    LoopConfig,
    OptimizerConfig,
    ScheduleConfig,
    StageConfig,
    load_stage_config,
)
from dexego.train.trainer import StageData, Trainer, TrainingDivergedError, TrainResult, seed_everything

__all__ = [
    "DataConfig",
    "DataSource",
    "LoopConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "StageConfig",
    "StageData",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "load_stage_config",
    "seed_everything",
]
