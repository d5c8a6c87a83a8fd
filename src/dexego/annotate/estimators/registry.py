"""Build a hand estimator from a name or an import path.

Heavier 3D estimators (HaMeR-like models on a GPU) are not shipped; users
plug theirs in as ``"my_package.module:MyEstimator"``: a class with ``reset``
and ``estimate`` methods
(:class:`~dexego.annotate.estimators.base.HandEstimator`), checked before it is
called with the keyword options given (``--estimator-option key=value`` on the
CLI). Naming a plug-in in a configuration file imports that module, which runs
its code: treat a configuration file like code.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from dexego.annotate.estimators.base import HandEstimator
from dexego.errors import ConfigError


def _oracle(**options: Any) -> HandEstimator:
    from dexego.annotate.estimators.oracle import OracleConfig, OracleEstimator

    return OracleEstimator(OracleConfig(**options))


def _mediapipe(**options: Any) -> HandEstimator:
    from dexego.annotate.estimators.mediapipe_hands import MediaPipeConfig, MediaPipeEstimator

    return MediaPipeEstimator(MediaPipeConfig(**options))


ESTIMATORS: dict[str, Callable[..., HandEstimator]] = {"oracle": _oracle, "mediapipe": _mediapipe}


def make_estimator(name: str, **options: Any) -> HandEstimator:
    """An estimator by registered name or ``"module:Class"`` import path."""
    if name in ESTIMATORS:
        try:
            return ESTIMATORS[name](**options)
        except TypeError as exc:
            raise ConfigError(f"hand estimator {name!r}: bad options {sorted(options)}: {exc}") from None
    if ":" not in name:
        raise ConfigError(
            f"unknown hand estimator {name!r}; use one of {sorted(ESTIMATORS)} or 'package.module:ClassName'"
        )
    return _plugin_estimator(name, options)


def plugin_class(name: str) -> type:
    """The estimator class ``"module:Class"`` names, checked before anything calls it.

    Importing the module runs its top-level code (a configuration that names a plug-in names code to
    import); what it names is then accepted only if it is a class whose ``reset`` and ``estimate`` are
    functions: a builtin, a function or another callable (``"os:system"``)
    is refused without being called.
    """
    module_name, _, attr = name.partition(":")
    if not module_name or not attr.isidentifier():
        raise ConfigError(f"hand estimator {name!r}: expected 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"hand estimator {name!r}: cannot import {module_name!r}: {exc}") from None
    cls = inspect.getattr_static(module, attr, None)
    if not isinstance(cls, type):
        what = "nothing" if cls is None else f"a {type(cls).__name__}"
        raise ConfigError(f"hand estimator {name!r}: {module_name}.{attr} is {what}, not an estimator class")
    missing = [m for m in ("reset", "estimate") if not inspect.isfunction(inspect.getattr_static(cls, m, None))]
    if missing:
        raise ConfigError(
            f"hand estimator {name!r} lacks {', '.join(missing)}(); see dexego.annotate.estimators.base.HandEstimator"
        )
    return cls


def _plugin_estimator(name: str, options: dict[str, Any]) -> HandEstimator:
    cls = plugin_class(name)
    try:
        estimator = cls(**options)
    except TypeError as exc:
        raise ConfigError(f"hand estimator {name!r}: bad options {sorted(options)}: {exc}") from None
    if not getattr(estimator, "name", None):
        estimator.name = name
    return estimator
