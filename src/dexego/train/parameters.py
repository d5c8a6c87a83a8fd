"""Which parameters train: freezing by name prefix, optimiser construction, loading earlier-stage weights, EMA."""

from __future__ import annotations

from pathlib import Path

import torch

from dexego.errors import ConfigError, InputError
from dexego.train.config import OptimizerConfig
from dexego.train.state_io import load_tensors


def _matches(name: str, prefix: str) -> bool:
    prefix = prefix.rstrip(".")
    return name == prefix or name.startswith(prefix + ".")


def freeze_parameters(model: torch.nn.Module, prefixes: tuple[str, ...]) -> list[str]:
    """Set ``requires_grad=False`` on parameters under the given name prefixes; returns the frozen names."""
    names = [name for name, _ in model.named_parameters()]
    unused = [p for p in prefixes if not any(_matches(n, p) for n in names)]
    if unused:
        roots = sorted({n.split(".")[0] for n in names})
        raise ConfigError(
            f"freeze: prefix(es) {', '.join(unused)} match no parameter; top-level modules: {', '.join(roots)}"
        )
    frozen = []
    for name, param in model.named_parameters():
        if any(_matches(name, p) for p in prefixes):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def build_optimizer(model: torch.nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """Weight decay on matrices only (not on biases, norms and embeddings' 1-D parameters)."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("freeze: every parameter is frozen; nothing to train")
    groups = [
        {"params": [p for _, p in trainable if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for _, p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if config.name == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    cls = torch.optim.AdamW if config.name == "adamw" else torch.optim.Adam
    return cls(groups, lr=config.lr, betas=tuple(config.betas), eps=config.eps)


def load_initial_weights(
    model: torch.nn.Module, weights_path: Path, skip: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Copy the tensors of an earlier stage whose names and shapes match, except those under ``skip`` prefixes;
    the rest keep their fresh values.

    Returns the names loaded, the model's names left as initialised and the file's names not used.
    """
    saved = load_tensors(weights_path)
    own = model.state_dict()
    loaded = {
        k: v for k, v in saved.items() if k in own and own[k].shape == v.shape and not any(_matches(k, p) for p in skip)
    }
    if not loaded:
        raise InputError(weights_path, "init_from", "no tensor matches this model's parameter names and shapes")
    model.load_state_dict(loaded, strict=False)
    return {
        "loaded": sorted(loaded),
        "initialised": sorted(set(own) - set(loaded)),
        "ignored": sorted(set(saved) - set(loaded)),
    }


class EMA:
    """Exponential moving average of the trainable parameters, kept in float32."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {n: p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for name, param in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(param.detach().float(), 1.0 - self.decay)

    def state_dict_for(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The model's full state dict with the averaged values in place of the trainable parameters."""
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        for name, value in self.shadow.items():
            state[name] = value.to(state[name].dtype).cpu()
        return state

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(tensors)
        if missing:
            raise InputError(None, "ema", f"checkpoint lacks averaged parameters {sorted(missing)[:5]}")
        for name in self.shadow:
            self.shadow[name].copy_(tensors[name])
