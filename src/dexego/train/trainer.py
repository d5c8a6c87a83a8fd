"""The training loop of one stage, on Hugging Face Accelerate (CPU, one GPU, DDP, FSDP; bf16/fp16).

Generic over any ``torch.nn.Module`` whose ``forward(batch)`` returns
``(loss, metrics)`` and any map-style dataset of samples (``dexego.models.Policy``
and ``dexego.data`` in practice). Resume is exact: the model, optimiser,
scheduler, EMA, RNG states and the position in the epoch's sample order are
restored, so an interrupted run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from dexego.config import to_dict
from dexego.data.mixtures import MixtureSampler
from dexego.errors import DexegoError, InputError
from dexego.train import checkpoints as ckpt
from dexego.train.config import StageConfig
from dexego.train.metrics_logger import MetricsLogger
from dexego.train.parameters import EMA, build_optimizer, freeze_parameters, load_initial_weights
from dexego.train.run_folder import check_resume_config
from dexego.train.schedule import build_scheduler
from dexego.train.state_io import load_state, load_tensors, read_json, rng_state, save_state, set_rng_state, write_json
from dexego.utils.files import write_json_atomic


class TrainingDivergedError(DexegoError):
    """The loss (or gradient norm) became NaN or infinite, or the loss exceeded ``loop.max_loss``; training stopped."""


@dataclass
class StageData:
    """What a stage trains and validates on.

    ``train_sources`` are the mixture's datasets (concatenated, drawn by
    ``weights``, relative shares; ``None``: every sample once per epoch, see
    ``dexego.data.mixtures``); ``samples_per_epoch`` sets the epoch length (default:
    the datasets' total size); ``val`` maps a split name ("val_human", "val_robot") to a
    held-out dataset. ``data_hours`` (optional) is logged for the scaling-law fit.
    """

    train_sources: Sequence[Dataset]
    weights: Sequence[float] | None = None
    val: dict[str, Dataset] = field(default_factory=dict)
    data_hours: float | None = None
    collate_fn: Any = None
    action_stats: dict | None = None  # statistics of the actions, for the policy's normaliser
    target_stats: dict | None = None  # statistics of a relative head's targets (dexego.data.targets)
    samples_per_epoch: int | None = None


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns: steps and epochs done, where the weights are, last losses, speed."""

    steps: int
    epochs_completed: int
    final_dir: Path | None
    last_checkpoint: Path | None
    last_train_loss: float | None
    val_losses: dict[str, float]
    samples_per_second: float
    already_finished: bool = False  # the run had reached its last step before this call: nothing was trained


@dataclass
class _Position:
    step: int = 0  # optimiser steps done
    epoch: int = 0
    micro: int = 0  # micro-batches of this process consumed in the epoch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_accelerator(mixed_precision: str = "no"):
    from accelerate import Accelerator

    # cpu=True without a GPU lets torchrun / accelerate launch start multi-process CPU (gloo) training.
    return Accelerator(
        mixed_precision=mixed_precision, step_scheduler_with_optimizer=False, cpu=not torch.cuda.is_available()
    )


class Trainer:
    """The training loop of one stage on Accelerate: ``Trainer(config, policy, data).fit()`` trains, validates,
    checkpoints and resumes exactly (see the module docstring)."""

    def __init__(self, config: StageConfig, policy: torch.nn.Module, data: StageData, accelerator=None):
        self.config = config
        self.loop = config.loop
        self.run_dir = config.output_path
        self.accelerator = accelerator or make_accelerator(config.loop.mixed_precision)
        self.policy = policy
        self.data = data
        from accelerate.utils import DistributedType

        self.is_fsdp = self.accelerator.distributed_type == DistributedType.FSDP
        if self.is_fsdp and self.loop.ema_decay:
            raise DexegoError("loop.ema_decay: EMA is not supported with FSDP (parameters are sharded)")

    # ------------------------------------------------------------------ setup
    def _setup(self) -> _Position:
        acc, cfg = self.accelerator, self.config
        sizes = [len(d) for d in self.data.train_sources]
        if not sizes or min(sizes) == 0:
            raise InputError(None, "data.sources", f"every training dataset needs samples, got sizes {sizes}")
        self.train_set = torch.utils.data.ConcatDataset(list(self.data.train_sources))
        self.sampler = MixtureSampler(
            sizes,
            self.data.weights,
            seed=cfg.seed,
            num_samples=self.data.samples_per_epoch,
            rank=acc.process_index,
            world_size=acc.num_processes,
        )
        self.steps_per_epoch = self.sampler.per_process // self.loop.batch_size // self.loop.grad_accum
        if self.steps_per_epoch < 1:
            raise InputError(
                None,
                "loop.batch_size",
                f"{self.sampler.num_samples} samples per epoch cannot fill one optimiser step of "
                f"{self.loop.batch_size} x {self.loop.grad_accum} x {acc.num_processes} processes",
            )
        self.total_steps = self.loop.max_steps or self.loop.epochs * self.steps_per_epoch
        self.loader_generator = torch.Generator()
        self.loader = DataLoader(
            self.train_set,
            batch_size=self.loop.batch_size,
            sampler=self.sampler,
            drop_last=True,
            num_workers=cfg.data.num_workers,
            collate_fn=self.data.collate_fn,
            generator=self.loader_generator,
            persistent_workers=False,
        )

        check_resume_config(self.run_dir, json.loads(json.dumps(to_dict(cfg))))  # before anything is written
        if acc.is_main_process:
            ckpt.remove_leftovers(self.run_dir)  # of a run killed while it published final/ or a checkpoint
        resume_from = ckpt.latest_checkpoint(self.run_dir) if cfg.resume == "auto" else None
        if resume_from is None and cfg.init_from:
            report = load_initial_weights(self.policy, ckpt.resolve_weights(cfg.init_from), cfg.init_skip)
            self._print(
                f"init_from {cfg.init_from}: {len(report['loaded'])} tensors loaded, "
                f"{len(report['initialised'])} freshly initialised, {len(report['ignored'])} ignored"
            )
        self.frozen = freeze_parameters(self.policy, cfg.freeze)
        if resume_from is not None:
            self.policy.load_state_dict(load_tensors(ckpt.raw_weights_file(resume_from)))
        self.ema = EMA(self.policy, self.loop.ema_decay) if self.loop.ema_decay else None
        optimizer = build_optimizer(self.policy, cfg.optimizer)
        self.scheduler = build_scheduler(optimizer, cfg.schedule, self.total_steps, self.steps_per_epoch)
        self.model, self.optimizer = acc.prepare(self.policy, optimizer)

        position = _Position()
        if resume_from is not None:
            position = self._restore(resume_from)
            self._print(f"resumed from {resume_from} (step {position.step}, epoch {position.epoch})")
        elif acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if acc.is_main_process:
            write_json_atomic(self.run_dir / "config.json", to_dict(cfg))
            self.logger = MetricsLogger(self.run_dir, resume_step=position.step if resume_from else None)
        self.last_checkpoint = resume_from
        return position

    # ------------------------------------------------------------------ loop
    def fit(self) -> TrainResult:
        acc, loop = self.accelerator, self.loop
        pos = self._setup()
        final = self.run_dir / ckpt.FINAL
        if pos.step >= self.total_steps and self._final_step(final) == pos.step:
            self._print(f"already finished at step {pos.step}: {final} (nothing to train)")
            if acc.is_main_process:
                self.logger.close()
            return TrainResult(pos.step, pos.epoch, final, self.last_checkpoint, None, {}, 0.0, already_finished=True)
        from dexego.utils.progress import progress_bar

        bar = progress_bar(self.total_steps, self.config.name, "step", initial=pos.step,
                           disable=not (acc.is_main_process and loop.progress))  # fmt: skip
        samples_per_step = loop.batch_size * loop.grad_accum * acc.num_processes
        window: dict[str, float] = {}
        window_count, window_start, window_step = 0, time.perf_counter(), pos.step
        run_start, run_start_step = time.perf_counter(), pos.step
        last_loss, val_losses, throughput = None, {}, 0.0
        self.model.train()
        try:
            while pos.step < self.total_steps:
                self.sampler.set_epoch(pos.epoch)
                for train_set in self.data.train_sources:  # flip augmentation draws per epoch
                    if hasattr(train_set, "set_epoch"):
                        train_set.set_epoch(pos.epoch)
                self.sampler.set_start(pos.micro * loop.batch_size)
                self.loader_generator.manual_seed(self.config.seed * 7919 + pos.epoch)
                epoch_end = self.steps_per_epoch * loop.grad_accum
                for batch in self.loader:
                    pos.micro += 1
                    sync = pos.micro % loop.grad_accum == 0
                    loss, metrics = self._micro_step(batch, sync, pos)
                    window["loss"] = window.get("loss", 0.0) + loss
                    for name, value in metrics.items():
                        window[name] = window.get(name, 0.0) + value
                    window_count += 1
                    if not sync:
                        continue
                    grad_norm = self._optimizer_step(pos)
                    pos.step += 1
                    if pos.micro >= epoch_end:
                        pos.epoch, pos.micro = pos.epoch + 1, 0
                    bar.update(1)
                    epoch_done = pos.micro == 0
                    if pos.step % max(loop.log_every, 1) == 0 or pos.step == self.total_steps:
                        elapsed = time.perf_counter() - window_start
                        throughput = (pos.step - window_step) * samples_per_step / max(elapsed, 1e-9)
                        record = {k: v / window_count for k, v in window.items()}
                        record.update(lr=self.scheduler.get_last_lr()[0], samples_per_s=throughput, epoch=pos.epoch)
                        if grad_norm is not None:
                            record["grad_norm"] = grad_norm
                        last_loss = record["loss"]
                        self._log(pos.step, "train", record)
                        bar.set_postfix(loss=f"{last_loss:.4g}", samples_s=f"{throughput:.1f}")
                        window, window_count, window_start, window_step = {}, 0, time.perf_counter(), pos.step
                    finished = pos.step >= self.total_steps
                    if self._due(pos.step, loop.val_every, epoch_done, finished):
                        val_losses = self.validate(pos.step) or val_losses
                    if self._due(pos.step, loop.checkpoint_every, epoch_done, finished):
                        self.save_checkpoint(pos)
                    if finished or epoch_done:
                        break
            final_dir = self.export_final(pos)
        finally:
            bar.close()
            if acc.is_main_process and hasattr(self, "logger"):
                self.logger.close()
        overall = (pos.step - run_start_step) * samples_per_step / max(time.perf_counter() - run_start, 1e-9)
        return TrainResult(
            pos.step,
            pos.epoch,
            final_dir,
            self.last_checkpoint,
            last_loss,
            val_losses,
            overall if pos.step > run_start_step else throughput,
        )

    @staticmethod
    def _due(step: int, every: int, epoch_done: bool, finished: bool) -> bool:
        return finished or (every > 0 and step % every == 0) or (every == 0 and epoch_done)

    def _micro_step(self, batch, sync: bool, pos: _Position) -> tuple[float, dict[str, float]]:
        from accelerate.utils import send_to_device

        acc = self.accelerator
        batch = send_to_device(batch, acc.device)
        context = contextlib.nullcontext() if sync or acc.num_processes == 1 else acc.no_sync(self.model)
        with context:
            loss, metrics = self.model(batch)
            self._check_finite(loss.detach(), "loss", pos)
            acc.backward(loss / self.loop.grad_accum)
        return loss.item(), {k: _scalar(v) for k, v in metrics.items() if _is_scalar(v)}

    def _optimizer_step(self, pos: _Position) -> float | None:
        acc = self.accelerator
        grad_norm = None
        if self.config.optimizer.grad_clip_norm > 0:
            norm = acc.clip_grad_norm_(self.model.parameters(), self.config.optimizer.grad_clip_norm)
            if self.loop.mixed_precision != "fp16":  # fp16's scaler skips steps with inf gradients itself
                self._check_finite(norm.detach(), "gradient norm", pos)
            grad_norm = float(norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(acc.unwrap_model(self.model))
        return grad_norm

    def _check_finite(self, value: torch.Tensor, what: str, pos: _Position) -> None:
        limit = self.loop.max_loss if what == "loss" else 0.0
        ok = bool(torch.isfinite(value).all()) and not (limit and float(value.abs().max()) > limit)
        bad = torch.tensor([0.0 if ok else 1.0], device=self.accelerator.device)
        if self.accelerator.num_processes > 1:
            bad = self.accelerator.reduce(bad, "sum")
        if bad.item():
            kept = self.last_checkpoint or "none (no checkpoint was written yet)"
            if self.accelerator.is_main_process and hasattr(self, "logger"):
                self.logger.log(pos.step, "train", {"loss": float("nan"), "diverged": what})
            beyond = f" (beyond loop.max_loss = {limit:g})" if limit and bool(torch.isfinite(value).all()) else ""
            raise TrainingDivergedError(
                f"{what} is {value.item() if value.numel() == 1 else 'not finite'}{beyond} at step {pos.step + 1} "
                f"(epoch {pos.epoch}, batch {pos.micro}); training stopped. Last good checkpoint: {kept}. "
                f"Lower optimizer.lr, enable optimizer.grad_clip_norm, or check the data for NaN values."
            )

    # ------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self, step: int) -> dict[str, float]:
        """Mean loss (and metrics) on each held-out split; randomness is fixed and kept apart from training's."""
        from accelerate.utils import send_to_device

        acc = self.accelerator
        results = {}
        if not self.data.val:
            return results
        self.model.eval()
        devices = [acc.device] if acc.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.config.seed)
            for split, dataset in self.data.val.items():
                if len(dataset) == 0:
                    continue
                mine = Subset(dataset, list(range(acc.process_index, len(dataset), acc.num_processes)))
                loader = DataLoader(
                    mine,
                    batch_size=self.loop.batch_size,
                    shuffle=False,
                    num_workers=self.config.data.num_workers,
                    collate_fn=self.data.collate_fn,
                )
                sums: dict[str, torch.Tensor] = {}
                for index, batch in enumerate(loader):
                    if self.loop.val_batches and index >= self.loop.val_batches:
                        break
                    batch = send_to_device(batch, acc.device)
                    loss, metrics = self.model(batch)
                    n = _batch_size(batch)
                    values = {"loss": loss, **{k: v for k, v in metrics.items() if _is_scalar(v)}}
                    for name, value in values.items():
                        value = torch.as_tensor(value, dtype=torch.float64, device=acc.device) * n
                        sums[name] = sums.get(name, 0) + value
                    sums["count"] = sums.get("count", 0) + torch.tensor(
                        float(n), dtype=torch.float64, device=acc.device
                    )
                if acc.num_processes > 1:
                    sums = {k: acc.reduce(v, "sum") for k, v in sorted(sums.items())}
                if sums.get("count", 0):
                    count = sums.pop("count")
                    record = {k: float(v / count) for k, v in sums.items()}
                    record["samples"] = int(count)
                    if self.data.data_hours:
                        record["data_hours"] = float(self.data.data_hours)  # for the scaling-law fit
                    self._log(step, split, record)
                    results[split] = record["loss"]
        self.model.train()
        return results

    # ----------------------------------------------------------- checkpoints
    def save_checkpoint(self, pos: _Position) -> Path:
        """``checkpoints/step-N``: a policy folder (EMA-averaged weights when enabled) + the resumable state in trainer/."""
        acc = self.accelerator
        model_state = acc.get_state_dict(self.model)
        optimizer_state = self._optimizer_state()
        rng = rng_state()
        target = self.run_dir / ckpt.CHECKPOINTS / ckpt.checkpoint_name(pos.step)
        if acc.num_processes > 1:
            rngs = [None] * acc.num_processes
            torch.distributed.all_gather_object(rngs, rng)
        if acc.is_main_process:
            weights = self._policy_weights(model_state)

            def fill(tmp: Path) -> None:
                self._write_model(tmp, weights, pos)
                state_dir = tmp / ckpt.TRAINER_DIR
                state_dir.mkdir()
                if self.ema is not None:  # the policy files hold the averages; training resumes from the raw weights
                    _save_weights(state_dir / ckpt.WEIGHTS_FILE, model_state)
                    _save_weights(state_dir / ckpt.EMA_FILE, self.ema.shadow)
                save_state(state_dir, "optimizer", optimizer_state)
                save_state(state_dir, "scheduler", self.scheduler.state_dict())
                if acc.num_processes > 1:
                    for rank, payload in enumerate(rngs):
                        save_state(state_dir, f"rng-rank{rank}", payload)
                else:
                    save_state(state_dir, "rng-rank0", rng)
                write_json(state_dir / ckpt.STATE_FILE, {
                    "step": pos.step,
                    "epoch": pos.epoch,
                    "samples_in_epoch": pos.micro * self.loop.batch_size * acc.num_processes,
                    "world_size": acc.num_processes,
                    "seed": self.config.seed,
                    "total_steps": self.total_steps,
                    "stage": self.config.name,
                    "time": time.time(),
                })  # fmt: skip

            ckpt.publish_dir(target, fill)
            ckpt.prune_checkpoints(self.run_dir, self.loop.keep_last)
        acc.wait_for_everyone()
        self.last_checkpoint = target
        return target

    def _policy_weights(self, model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The weights a checkpoint's policy files hold: the EMA averages when the run keeps an EMA, else the model's."""
        if self.ema is None:
            return model_state
        return self.ema.state_dict_for(self.accelerator.unwrap_model(self.model))

    def _write_model(self, folder: Path, weights: dict[str, torch.Tensor], pos: _Position) -> None:
        """A policy folder (``dexego.models.pretrained``) for a dexego Policy; weights + metadata for any other module."""
        from dexego.models.configuration_policy import PolicyConfig
        from dexego.models.pretrained import METADATA_FILE, write_policy

        metadata = {"step": pos.step, "epoch": pos.epoch, "stage": self.config.name, "ema": self.ema is not None}
        unwrapped = self.accelerator.unwrap_model(self.model)
        if isinstance(getattr(unwrapped, "config", None), PolicyConfig):
            write_policy(folder, unwrapped, weights, metadata)
        else:
            _save_weights(folder / ckpt.WEIGHTS_FILE, weights)
            write_json(folder / METADATA_FILE, metadata)

    def _optimizer_state(self) -> dict:
        if self.is_fsdp:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            return FSDP.optim_state_dict(self.model, self.optimizer.optimizer)
        return self.optimizer.state_dict()

    def _restore(self, checkpoint: Path) -> _Position:
        acc = self.accelerator
        directory = ckpt.trainer_dir(checkpoint)
        state = read_json(directory / ckpt.STATE_FILE)
        optimizer_state = load_state(directory, "optimizer")
        if self.is_fsdp:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            optimizer_state = FSDP.optim_state_dict_to_load(self.model, self.optimizer.optimizer, optimizer_state)
        self.optimizer.load_state_dict(optimizer_state)
        self.scheduler.load_state_dict(load_state(directory, "scheduler"))
        if self.ema is not None:
            self.ema.load(load_tensors(ckpt.ema_file(checkpoint)))
        rng_file = directory / f"rng-rank{acc.process_index}.json"
        if rng_file.exists():
            set_rng_state(load_state(directory, f"rng-rank{acc.process_index}"))
        else:
            self._print(f"warning: {rng_file} missing (different number of processes); RNG streams restart")
        per_micro = self.loop.batch_size * acc.num_processes
        if state["samples_in_epoch"] % per_micro:
            self._print(
                "warning: batch size or process count changed since the checkpoint; the epoch position is rounded"
            )
        if state.get("total_steps") not in (None, self.total_steps):
            self._print(f"warning: the run length changed ({state['total_steps']} -> {self.total_steps} steps)")
        return _Position(
            step=int(state["step"]), epoch=int(state["epoch"]), micro=state["samples_in_epoch"] // per_micro
        )

    def export_final(self, pos: _Position) -> Path | None:
        """``final/``: the policy folder of the last step (EMA-averaged weights when enabled)."""
        acc = self.accelerator
        if self.last_checkpoint is None or ckpt.checkpoint_name(pos.step) != self.last_checkpoint.name:
            self.save_checkpoint(pos)
        model_state = acc.get_state_dict(self.model)
        final = self.run_dir / ckpt.FINAL
        if acc.is_main_process:
            weights = self._policy_weights(model_state)
            ckpt.publish_dir(final, lambda tmp: self._write_model(tmp, weights, pos))
        acc.wait_for_everyone()
        return final

    # ---------------------------------------------------------------- utils
    @staticmethod
    def _final_step(final: Path) -> int | None:
        try:
            return ckpt.checkpoint_step(final)
        except InputError:  # missing or unreadable: final/ is written again
            return None

    def _log(self, step: int, split: str, record: dict[str, Any]) -> None:
        if self.accelerator.is_main_process:
            self.logger.log(step, split, record)

    def _print(self, message: str) -> None:
        if self.accelerator.is_main_process:
            from tqdm.auto import tqdm

            tqdm.write(f"[{self.config.name}] {message}")


def _save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, str(path))


def _is_scalar(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar(value: Any) -> float:
    return float(value.detach().float().item()) if isinstance(value, torch.Tensor) else float(value)


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict):
        for value in batch.values():
            if isinstance(value, torch.Tensor) and value.ndim > 0:
                return int(value.shape[0])
            if isinstance(value, (list, tuple)):
                return len(value)
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_size(batch[0]) if isinstance(batch[0], (dict, list, tuple, torch.Tensor)) else len(batch)
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    return 1
