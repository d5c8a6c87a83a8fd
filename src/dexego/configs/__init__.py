"""Configurations shipped inside the package, by name.

``cpu/pretrain`` is ``dexego/configs/cpu/pretrain.toml``: the papers' stage configs (``pretrain``,
``midtrain``, ``finetune``), their laptop-sized versions (``cpu/...``), the EgoVLA human mixture
(``mixtures/egovla_human``) and the demo profiles' files (``demo/<profile>/<file>``). A built-in
config is read as if it were a file in the working directory: every relative path in it
(datasets, ``output_dir``, ``init_from``, ``data.mixture``) is relative to where the command runs.
``dexego config list`` / ``dexego config show NAME`` print them.
"""

from __future__ import annotations

from pathlib import Path

from dexego.errors import ConfigError

SUFFIX = ".toml"


def _root() -> Path:
    return Path(__file__).resolve().parent


def _profiles_root() -> Path:  # the files only: dexego.demo (which imports the trainer) is not imported
    return _root().parent / "demo" / "profiles"


def config_names() -> list[str]:
    """Every built-in config name: stage configs and mixtures, then ``demo/<profile>/<file>``."""
    root, profiles = _root(), _profiles_root()
    names = sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob(f"*{SUFFIX}"))
    names += sorted(f"demo/{p.relative_to(profiles).with_suffix('')}" for p in profiles.rglob(f"*{SUFFIX}"))
    return names


def config_path(name: str) -> Path:
    """The file of built-in config ``name`` (a trailing ``.toml`` is allowed); an unknown name lists the known ones."""
    clean = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    clean = clean.removeprefix("configs/")
    if clean in config_names():
        if clean.startswith("demo/"):
            return _profiles_root() / f"{clean.removeprefix('demo/')}{SUFFIX}"
        return _root() / f"{clean}{SUFFIX}"
    raise ConfigError(f"{name!r} is neither a file nor a built-in config; built-in: {', '.join(config_names())}")


def is_builtin(name: str) -> bool:
    try:
        config_path(name)
    except ConfigError:
        return False
    return True


def config_text(name: str) -> str:
    """The TOML text of built-in config ``name``, as shipped."""
    return config_path(name).read_text(encoding="utf-8")
