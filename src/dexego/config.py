"""Typed configuration: frozen dataclasses loaded from TOML/JSON/dicts with overrides.

One loader for every config in dexego. Unknown keys are an error that lists
the valid ones; values are checked against the dataclass field types; nested
dataclasses are built recursively; ``key.sub=value`` overrides (as from the
CLI's ``--set``) are applied before building.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from dexego.errors import ConfigError

T = TypeVar("T")


def load_config(
    cls: type[T],
    source: str | Path | dict[str, Any] | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    *,
    origin: str | None = None,
    prefix: str = "",
) -> T:
    """Build dataclass ``cls`` from a TOML/JSON file or a dict, then apply overrides.

    Errors name ``origin`` (default: the file, or ``<dict>`` / ``overrides``) and each key under
    ``prefix`` (e.g. ``"model."`` when ``source`` is one table of a larger config).
    """
    label = origin or ("<dict>" if source is not None else "overrides")
    if source is None:
        data: dict[str, Any] = {}
    elif isinstance(source, dict):
        data = dict(source)
    else:
        path = Path(source)
        label = origin or str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not a text config file (TOML or JSON): {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    for key, value in _parse_overrides(overrides).items():
        _set_dotted(data, key, value)
    if prefix and not prefix.endswith("."):
        prefix += "."
    return _build(cls, data, label, prefix=prefix)


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain JSON-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def apply_overrides(data: dict[str, Any], overrides: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``data`` (changed in place and returned) with ``key.sub=value`` overrides applied as ``load_config`` applies them."""
    for key, value in _parse_overrides(overrides).items():
        _set_dotted(data, key, value)
    return data


def _parse_overrides(overrides: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if isinstance(overrides, dict):
        return overrides
    parsed = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value")
        try:
            parsed[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            parsed[key.strip()] = raw  # a bare word is a string
    return parsed


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a table")
    node[leaf] = value


def _build(cls: type[T], data: Any, origin: str, prefix: str) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: {prefix or 'config'}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key(s) {', '.join(prefix + k for k in unknown)}; "
            f"valid keys{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, origin, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: {prefix.rstrip('.') or cls.__name__}: {exc}") from exc


def _coerce(hint: Any, value: Any, origin: str, name: str) -> Any:
    origin_type = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, origin, name + ".")
    if origin_type in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, origin, name)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{origin}: {name}: {value!r} does not match {hint}")
    if origin_type is typing.Literal:
        if value not in args:
            raise ConfigError(f"{origin}: {name}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin_type in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{origin}: {name}: expected a list, got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(item, v, origin, f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin_type is tuple else items
    if origin_type is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: {name}: expected a table, got {value!r}")
        return {k: _coerce(args[1], v, origin, f"{name}.{k}") for k, v in value.items()} if args else dict(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Path and isinstance(value, str):
        return Path(value)
    if isinstance(hint, type) and not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{origin}: {name}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
    return value
