"""The Policy: backbone + action head, with normalisation in its pre/post-processing.

Networks only see normalised hands (``dexego.actions.Normalizer`` with the
dataset's statistics, stored with the weights). ``forward(batch)`` returns
the training loss and metrics; ``predict_action_chunk(observation)``
returns an un-normalised, absolute chunk (H, D) in the current camera frame;
a policy with ``action_frame = "relative"`` predicts the motion from the
current state (``dexego.actions.relative``) and converts it back there.
``save_pretrained(dir)`` writes a policy folder and ``from_pretrained(path)``
reads one (or a training run's checkpoint); the format is
``dexego.models.pretrained``'s.

``policy.optimized`` (default True) selects the computation with less work
(see ``modeling_tiny_backbone``, ``modeling_regression``, ``modeling_flow``;
inference also runs under ``torch.inference_mode``); False runs the plain
computation. Both give the same losses and outputs up to float rounding;
the plain one is the reference of the tests and of benchmarks/inference.py.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model
from torch import nn

from dexego.actions import Normalizer, get_space
from dexego.actions.relative import to_absolute, to_relative
from dexego.errors import ConfigError, InputError, NonFiniteActions
from dexego.models import pretrained
from dexego.models.configuration_policy import PolicyConfig
from dexego.models.frame_cache import FrameFeatureCache
from dexego.models.head_inputs import HeadContext, HeadInputs
from dexego.models.observation import prepare
from dexego.models.registry import HEADS, backbone_class
from dexego.tokenizers import load_tokenizer
from dexego.utils.files import atomic_directory


class Policy(nn.Module):
    """A vision-language-action policy: backbone (tiny or a Hugging Face VLM) + action head, normaliser inside.

    Inference takes one observation (or a batch with a leading axis) with these keys (the layout of the
    training samples of ``dexego.data`` and of ``dexego serve``'s requests, see docs/serve.md):

    - ``images``: uint8 (T, 3, H, W) RGB frames, oldest first, current last; T = ``config.n_obs_frames``,
      spaced as in training (0.2 s by default); ``image_mask`` (T,) bool, optional, False for padded history;
    - ``instruction``: the task in words;
    - ``state``: float (D,), the hands now in ``config.action_space`` in the current camera frame;
      ``state_valid``: bool (2,), left and right hand present;
    - ``fov``: float (2,), the frames' horizontal and vertical field of view in radians.

    :meth:`predict_action_chunk` returns the next ``config.horizon`` actions (H, D), un-normalised, in the camera
    frame of the current observation. :meth:`select_action` / :meth:`reset` follow LeRobot's convention: one
    action per control step from a queue of predicted chunks. ``forward(batch)`` returns the training loss and
    metrics. Build one from a :class:`PolicyConfig` (and the dataset's action statistics), or load a trained one
    with :meth:`from_pretrained` (a run folder, its ``final/`` or a ``checkpoints/step-N`` folder).
    """

    def __init__(self, config: PolicyConfig, stats: Mapping[str, np.ndarray] | Normalizer | None = None,
                 tokenizer=None, *, target_stats: Mapping[str, np.ndarray] | Normalizer | None = None,
                 architecture_dir: str | Path | None = None):  # fmt: skip
        """``stats``: action statistics (as meta/stats.json: mean/std, q01/q99 or min/max) or a Normalizer;
        None = identity until loaded. They normalise the state, and the targets of an ``absolute`` head.
        ``target_stats``: statistics of the relative chunks a ``relative`` head predicts
        (``dexego.data.targets.target_stats``); required with ``stats`` in that frame.
        ``tokenizer``: the fitted action tokenizer of the tokens head (default: loaded from
        ``config.tokens.tokenizer_dir``)."""
        super().__init__()
        self.config = config
        self.space = get_space(config.action_space)
        normalizer = self._make_normalizer(stats)
        self.register_buffer("normalizer_shift", torch.as_tensor(normalizer.shift, dtype=torch.float64))
        self.register_buffer("normalizer_scale", torch.as_tensor(normalizer.scale, dtype=torch.float64))
        self.relative = config.action_frame == "relative"
        if self.relative:
            if stats is not None and target_stats is None:
                raise InputError(None, "target_stats", "a policy with action_frame 'relative' needs the statistics of its "
                                 "relative targets (dexego.data.targets.target_stats)")  # fmt: skip
            target = self._make_normalizer(target_stats)
            self.register_buffer("target_shift", torch.as_tensor(target.shift, dtype=torch.float64))
            self.register_buffer("target_scale", torch.as_tensor(target.scale, dtype=torch.float64))
        elif target_stats is not None:
            raise InputError(None, "target_stats", "only a policy with action_frame 'relative' takes target statistics")
        if config.backbone == "hf":
            self.backbone = backbone_class("hf")(config.hf, config.n_obs_frames, architecture_dir)
        else:
            self.backbone = backbone_class(config.backbone)(config.backbone_config, config.n_obs_frames)
        if config.head == "tokens" and tokenizer is None:
            if not config.tokens.tokenizer_dir:
                raise InputError(
                    None, "tokens.tokenizer_dir", "the tokens head needs a fitted tokenizer (dexego tokenizer fit)"
                )
            tokenizer = load_tokenizer(config.tokens.tokenizer_dir)
        if config.head == "tokens" and config.tokens.dynamics_dir and getattr(tokenizer, "kind", None) != "motion":
            from dexego.tokenizers.dynamics import DynamicsTokenizer
            from dexego.tokenizers.motion import MotionTokenizer

            tokenizer = MotionTokenizer(DynamicsTokenizer.load(config.tokens.dynamics_dir), tokenizer)
        context = HeadContext(self.space, config.horizon, self.backbone.width, config.loss, self.normalizer)
        self.head = HEADS[config.head](config.head_config, context, tokenizer)
        self.optimized = True

    # -- normalisation -------------------------------------------------------------------------------------------
    def _make_normalizer(self, stats) -> Normalizer:
        if isinstance(stats, Normalizer):
            normalizer = stats
        elif stats is None:
            normalizer = Normalizer({}, "identity", skip=np.zeros(self.space.dim, dtype=bool))
        else:
            rot6d = tuple(p for p in self.space.part_names if p.endswith("rot6d"))
            skip = None if self.config.normalize_rot6d else self.space.part_mask(*rot6d)
            try:
                normalizer = Normalizer(
                    {k: np.asarray(v) for k, v in stats.items()}, self.config.normalization, skip=skip
                )
            except ValueError as exc:
                raise InputError(None, "stats", str(exc)) from exc
        if normalizer.dim != self.space.dim:
            raise InputError(
                None,
                "stats",
                f"statistics have {normalizer.dim} dimensions, action space {self.space.name!r} has {self.space.dim}",
            )
        return normalizer

    def normalizer(self) -> Normalizer:
        """The normaliser of what the head predicts (absolute or relative chunks, per ``config.action_frame``)."""
        if self.relative:
            return self._buffers_normalizer(self.target_shift, self.target_scale)
        return self.state_normalizer()

    def state_normalizer(self) -> Normalizer:
        """The normaliser of the current hands (the state input)."""
        return self._buffers_normalizer(self.normalizer_shift, self.normalizer_scale)

    def _buffers_normalizer(self, shift: torch.Tensor, scale: torch.Tensor) -> Normalizer:
        return Normalizer.from_state_dict(
            {"shift": shift.cpu().numpy(), "scale": scale.cpu().numpy()}, self.config.normalization
        )

    def set_frame_cache(self, capacity: int) -> None:
        """Reuse the patch features of frames seen in earlier ``predict_action_chunk`` calls (tiny backbone,
        inference only): ``capacity`` frames are kept, 0 turns the cache off (the default). Outputs agree with
        the uncached ones up to float rounding (see ``dexego.models.frame_cache``)."""
        if not hasattr(self.backbone, "frame_cache"):
            raise ConfigError(f"the {self.config.backbone!r} backbone has no frame feature cache (only 'tiny')")
        if capacity < 0:
            raise ConfigError(f"frame cache capacity must be >= 0, got {capacity}")
        self.backbone.frame_cache = FrameFeatureCache(capacity) if capacity else None

    @property
    def device(self) -> torch.device:
        return self.normalizer_shift.device

    # -- training and inference ----------------------------------------------------------------------------------
    def _head_inputs(self, data: dict[str, Any]) -> HeadInputs:
        pooled_only = self.optimized and not getattr(self.head, "reads_backbone_tokens", True)
        backbone = self.backbone(data["images"], data["image_mask"], data["instruction"], pooled_only=pooled_only,
                                 optimized=self.optimized)  # fmt: skip
        state = self.state_normalizer().normalize(data["state"])
        dim_mask = data.get("action_mask")
        if dim_mask is not None:  # dimensions a sample does not carry (a human's robot joints) read as zero
            state = state * dim_mask.to(state.dtype)
        return HeadInputs(backbone=backbone, state=state, state_valid=data["state_valid"], fov=data["fov"],
                          optimized=self.optimized, frame_now=data["images"][:, -1],
                          frame_future=data.get("future_image"), plan=data.get("plan"), dim_mask=dim_mask)  # fmt: skip

    def forward(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        data, _ = prepare(batch, self.space.dim, self.config.n_obs_frames, self.device, with_actions=True)
        if data["actions"].shape[1] != self.config.horizon:
            raise InputError(
                None, "actions", f"expected a chunk of {self.config.horizon} steps, got {data['actions'].shape[1]}"
            )
        target, valid = data["actions"], data["action_valid"]
        if self.relative:  # motion from the current state; a hand without a current state has no reference
            target = to_relative(target, data["state"], self.space, data["state_valid"])
            valid = valid & data["state_valid"][:, None, :]
        target = self.normalizer().normalize(target)
        loss, metrics = self.head.compute_loss(self._head_inputs(data), target, valid)
        return loss, {"loss": float(loss.detach()), **metrics}

    @property
    def input_image_size(self) -> int | None:
        """The square frame size the backbone resizes every image to (None when it has no fixed size)."""
        size = getattr(self.backbone, "image_size", None)
        if not isinstance(size, int):
            size = getattr(getattr(self.backbone, "config", None), "image_size", None)
        return size if isinstance(size, int) and size > 0 else None

    def check_observation(self, observation: Mapping[str, Any]) -> None:
        """Named errors for an observation this policy cannot read as intended: a wrong number of frames, frames
        that are not (T, 3, H, W), or non-square frames that the backbone would stretch to its square input."""
        if not isinstance(observation, Mapping):
            raise InputError(None, "observation", f"expected a mapping of arrays, got {type(observation).__name__}")
        if "images" not in observation:
            raise InputError(None, "images", "missing from the observation")
        shape = tuple(np.shape(observation["images"]))
        if len(shape) not in (4, 5):
            raise InputError(None, "images", f"expected (T, 3, H, W) or (B, T, 3, H, W), got shape {shape}")
        frames, channels, height, width = shape[-4:]
        if channels != 3:
            hint = " (channels last? the policy takes (T, 3, H, W))" if width == 3 else ""
            raise InputError(None, "images", f"expected 3 colour channels in axis -3, got shape {shape}{hint}")
        expected = self.config.n_obs_frames
        if frames != expected:
            raise InputError(None, "images", f"expected {expected} frames (config.n_obs_frames: oldest first, current "
                             f"last; repeat the first frame for a short history and mark it False in image_mask), got {frames}")  # fmt: skip
        size = self.input_image_size
        if size is not None and height != width:
            raise InputError(None, "images", f"{height}x{width} frames would be stretched to the model's square "
                             f"{size}x{size} input; crop them to a square first (as the training frames were)")  # fmt: skip

    def reset(self) -> None:
        """Forget the queued actions of :meth:`select_action`; call it at the start of every episode."""
        self._action_queue: collections.deque[np.ndarray] = collections.deque()

    def select_action(self, observation: Mapping[str, Any], n_action_steps: int | None = None,
                      seed: int | None = None) -> np.ndarray:  # fmt: skip
        """The action (D,) to execute now (LeRobot's convention).

        When the queue is empty a chunk is predicted from ``observation`` and its first ``n_action_steps``
        actions (default: the whole horizon) are queued; every call returns the next one. The actions of a
        chunk are in the camera frame of the observation that produced it: with a camera that moves between
        queries, re-query more often (smaller ``n_action_steps``) or blend chunks with
        ``dexego.serve.ChunkedPolicy``, which converts frames."""
        steps = self.config.horizon if n_action_steps is None else n_action_steps
        if not 1 <= steps <= self.config.horizon:
            raise InputError(
                None, "n_action_steps", f"must be in 1..{self.config.horizon} (the policy's horizon), got {steps}"
            )
        queue = getattr(self, "_action_queue", None)
        if queue is None:
            self.reset()
            queue = self._action_queue
        if not queue:
            chunk = self.predict_action_chunk(observation, seed=seed)
            if chunk.ndim != 2:
                raise InputError(None, "images", "select_action takes one observation, not a batch")
            queue.extend(chunk[:steps])
        return queue.popleft()

    def predict_action_chunk(self, observation: Mapping[str, Any], seed: int | None = None, return_plan: bool = False):
        """Un-normalised chunk (H, D) (or (B, H, D) for a batched observation); ``seed`` fixes sampling.

        The observation is checked first (:meth:`check_observation`, then every key's shape and dtype): a
        mistake is an ``InputError`` naming the field. ``return_plan``: return (chunk, plan) where plan is the
        text a reasoning policy generated before the motion codes (a list for a batched observation; None when
        the policy does not reason)."""
        self.check_observation(observation)
        was_training = self.training
        if was_training:  # switching modes walks every sub-module: only when needed
            self.eval()
        try:
            with torch.inference_mode() if self.optimized else torch.no_grad():
                data, batched = prepare(
                    observation, self.space.dim, self.config.n_obs_frames, self.device, with_actions=False
                )
                generator = None if seed is None else torch.Generator(device=self.device).manual_seed(seed)
                chunk = self.head.sample(self._head_inputs(data), generator)
                chunk = self.normalizer().unnormalize(chunk.double())
                if self.relative:  # the one place a relative prediction becomes the absolute chunk to execute
                    chunk = to_absolute(chunk, data["state"].double(), self.space, data["state_valid"])
                chunk = chunk.float().cpu().numpy()
                if not np.isfinite(chunk).all():  # never hand NaN/inf to a robot
                    raise NonFiniteActions(
                        f"the policy computed {int(np.size(chunk) - np.isfinite(chunk).sum())} NaN or infinite action values"
                    )
        finally:
            if was_training:
                self.train()
        if return_plan:
            plans = getattr(self.head, "last_plans", None)
            return (chunk, plans) if batched else (chunk[0], None if plans is None else plans[0])
        return chunk if batched else chunk[0]

    # -- persistence (the policy folder format: dexego.models.pretrained) -----------------------------------------
    @property
    def image_size(self) -> int | None:
        """The square frame size the backbone expects (frames are resized to it), when it has one."""
        size = getattr(self.backbone, "image_size", None) or getattr(
            getattr(self.backbone, "config", None), "image_size", None
        )
        return int(size) if isinstance(size, int) and size > 0 else None

    def describe(self) -> dict[str, Any]:
        """Metadata a client can use: the policy class, action space and size, horizon, frames, image size."""
        return {"policy": type(self).__name__, **pretrained.describe(self.config, self.image_size)}

    def save_pretrained(self, directory: str | os.PathLike, *, state_dict: Mapping[str, torch.Tensor] | None = None,
                        metadata: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
        """Write a policy folder (config.json, model.safetensors, metadata.json, ...) atomically."""
        with atomic_directory(directory) as tmp:
            pretrained.write_policy(tmp, self, state_dict, metadata)
        return Path(directory)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike | pretrained.PolicyFiles, map_location: str | torch.device = "cpu"
    ) -> Policy:
        """The policy at a policy folder, a run folder, ``final/`` or a ``step-N`` checkpoint (either format), in eval mode.

        ``path`` may also be what ``dexego.models.pretrained.locate`` found."""
        files = path if isinstance(path, pretrained.PolicyFiles) else pretrained.locate(path)
        tokenizer = load_tokenizer(files.tokenizer_dir) if files.tokenizer_dir is not None else None
        policy = cls(files.config, None, tokenizer, architecture_dir=files.architecture_dir)
        if len(files.weights) == 1:
            weights = files.weights[0]
            try:
                missing, unexpected = load_model(policy, str(weights), strict=False, device=str(map_location))
            except Exception as exc:  # safetensors raises its own error types for corrupt files
                raise InputError(weights, None, f"cannot read weights: {exc}") from exc
            if missing or unexpected:
                raise InputError(weights, None, f"weights do not match {files.config_file}: missing {sorted(missing)[:5]}, "
                                                f"unexpected {sorted(unexpected)[:5]}")  # fmt: skip
        else:  # a format-1 training checkpoint: raw weights, then the EMA averages over them
            tensors: dict[str, torch.Tensor] = {}
            for weights in files.weights:
                try:
                    tensors.update(load_file(str(weights)))
                except Exception as exc:
                    raise InputError(weights, None, f"cannot read weights: {exc}") from exc
            try:
                policy.load_state_dict(tensors)
            except RuntimeError as exc:
                raise InputError(
                    files.weights[0], None, f"weights do not match the model in {files.config_file}: {exc}"
                ) from None
        return policy.to(map_location).eval()

    def save(self, directory: str | os.PathLike) -> None:
        """Same as :meth:`save_pretrained`."""
        self.save_pretrained(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> Policy:
        """Same as :meth:`from_pretrained`."""
        return cls.from_pretrained(directory, map_location)
