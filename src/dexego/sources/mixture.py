"""Multi-source mixture files (TOML) -> the data engine's ``MixtureEntry`` list.

    [[datasets]]
    path = "data/egodex"
    scale = 1.0          # share proportional to the dataset's frame count x scale
    [[datasets]]
    path = "data/holoassist"
    scale = 0.1          # HoloAssist at 1/10 of its natural share, as in EgoVLA
    [[datasets]]
    path = "data/sim"
    weight = 0.2         # or an absolute share of the samples

``scale`` entries are resolved against the datasets' ``total_frames`` into the
absolute weights that ``dexego.data.loader.LoaderConfig.datasets`` takes; then
weights are used as given (the loader normalises them). Relative paths are
relative to the mixture file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from dexego.data.files import read_json
from dexego.data.loader import MixtureEntry
from dexego.errors import ConfigError, InputError

_KEYS = {"path", "weight", "scale", "name"}


def read_mixture(path: "str | Path") -> tuple[MixtureEntry, ...]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, None, "mixture file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, None, f"invalid TOML: {exc}") from None
    entries = data.get("datasets")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected [[datasets]] tables with path and weight or scale")
    scaled: list[tuple[int, float]] = []
    out: list[MixtureEntry] = []
    for i, entry in enumerate(entries):
        unknown = set(entry) - _KEYS
        if unknown:
            raise ConfigError(f"{path}: datasets[{i}]: unknown key(s) {sorted(unknown)}; valid: {sorted(_KEYS)}")
        if "path" not in entry or (("weight" in entry) == ("scale" in entry)):
            raise ConfigError(f"{path}: datasets[{i}]: give path and exactly one of weight or scale")
        value = float(entry.get("weight", entry.get("scale")))
        if value < 0:
            raise ConfigError(f"{path}: datasets[{i}]: weight/scale must be >= 0, got {value}")
        dataset = Path(entry["path"])
        dataset = dataset if dataset.is_absolute() else (path.parent / dataset)
        if "scale" in entry:
            scaled.append((i, value * _total_frames(dataset)))
            value = 0.0
        out.append(MixtureEntry(str(dataset), value, entry.get("name")))
    for i, weight in scaled:
        out[i] = MixtureEntry(out[i].path, weight, out[i].name)
    if sum(e.weight for e in out) <= 0:
        raise ConfigError(f"{path}: mixture weights sum to zero")
    return tuple(out)


def _total_frames(dataset: Path) -> int:
    info = dataset / "meta" / "info.json"
    if not info.is_file():
        raise InputError(info, None, "dataset not found (a 'scale' entry needs the converted dataset)")
    total = read_json(info, expect=dict).get("total_frames")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise InputError(info, "total_frames", f"expected a frame count, got {total!r}")
    return total
