"""A run folder's ``config.json`` always describes the weights beside it.

Re-running a stage into a folder that already holds a run resumes it; that is only
correct with the same configuration. :func:`check_resume_config` compares the stored
``config.json`` with the new one and refuses a resume whose settings differ (naming
every differing key), except for keys that do not change what is trained
(:data:`OPERATIONAL_KEYS`: logging, validation and checkpoint cadence, progress bars,
loader workers). :func:`clear_run` empties a run folder for ``dexego train --overwrite``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dexego.errors import ConfigError, InputError
from dexego.train import checkpoints as ckpt

CONFIG_FILE = "config.json"
# What dexego train writes into output_dir (checkpoints.py's layout); --overwrite removes exactly these.
RUN_ENTRIES = (ckpt.CHECKPOINTS, ckpt.FINAL, CONFIG_FILE, "metrics.jsonl", "tensorboard")
# Keys that may change between a run and its resumption: they change how often things are logged,
# validated or saved and how fast samples load, never the weights.
OPERATIONAL_KEYS = frozenset({
    "loop.progress", "loop.log_every", "loop.val_every", "loop.val_batches", "loop.checkpoint_every",
    "loop.keep_last", "data.num_workers",
})  # fmt: skip


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds trained weights (a checkpoint or ``final/``)."""
    return ckpt.latest_checkpoint(run_dir) is not None or (Path(run_dir) / ckpt.FINAL).is_dir()


def flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``("a.b", 1)``; lists stay values."""
    if isinstance(data, Mapping) and data:
        for key, value in data.items():
            yield from flatten(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), data


def config_differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every flattened key whose value differs (missing = None), operational keys left out."""
    old = dict(flatten(json.loads(json.dumps(before, default=str))))
    new = dict(flatten(json.loads(json.dumps(after, default=str))))
    return [(key, old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys())
            if key not in OPERATIONAL_KEYS and old.get(key) != new.get(key)]  # fmt: skip


def check_resume_config(run_dir: Path, config: Mapping[str, Any]) -> None:
    """Refuse to continue the run in ``run_dir`` with a configuration other than the one it was trained with."""
    run_dir = Path(run_dir)
    if not holds_run(run_dir):
        return
    stored = run_dir / CONFIG_FILE
    if not stored.is_file():
        raise InputError(stored, None, "missing: this folder holds checkpoints of a run whose configuration is unknown; "
                                       "pass --overwrite to start again or choose a new output_dir")  # fmt: skip
    try:
        before = json.loads(stored.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(stored, None, f"cannot parse: {exc}") from None
    if config.get("resume") == "never":
        raise ConfigError(f"{run_dir} already holds a run and resume = \"never\"; pass --overwrite to start again "
                          "or choose a new output_dir")  # fmt: skip
    diffs = config_differences(_with_defaults(before), config)
    if diffs:
        listed = "; ".join(f"{key}: {_show(old)} -> {_show(new)}" for key, old, new in diffs)
        raise ConfigError(f"{run_dir} holds a run trained with another configuration ({listed}); re-run with the "
                          "same settings to resume it, pass --overwrite to start again, or choose a new output_dir")  # fmt: skip


def _with_defaults(stored: Mapping[str, Any]) -> Mapping[str, Any]:
    """A stored configuration as this version loads it (settings added since it was written take their defaults,
    settings derived from the model are filled in), so that only real differences count; as stored when it no
    longer loads."""
    from dexego.config import to_dict
    from dexego.errors import DexegoError
    from dexego.train.config import load_stage_config

    try:
        return json.loads(json.dumps(to_dict(load_stage_config(dict(stored)))))
    except DexegoError:
        return stored


def clear_run(run_dir: Path) -> list[Path]:
    """Remove what ``dexego train`` wrote into ``run_dir`` (other files stay); returns what went."""
    removed = []
    for name in RUN_ENTRIES:
        path = Path(run_dir) / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def _show(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)
