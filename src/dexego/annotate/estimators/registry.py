"""Build a hand estimator from a name or an import path.

Heavier 3D estimators (HaMeR-like models on a GPU) are not shipped; users
plug theirs in as ``"my_package.module:MyEstimator"``. The class is called
with the keyword options given (``--estimator-option key=value`` on the CLI)
and must satisfy :class:`~dexego.annotate.estimators.base.HandEstimator`.
"""

from __future__ import annotations

import importlib
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
        raise ConfigError(f"unknown hand estimator {name!r}; use one of {sorted(ESTIMATORS)} or 'package.module:ClassName'")
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"hand estimator {name!r}: cannot import {module_name!r}: {exc}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ConfigError(f"hand estimator {name!r}: {module_name!r} has no callable {attr!r}")
    estimator = factory(**options)
    missing = [m for m in ("reset", "estimate") if not callable(getattr(estimator, m, None))]
    if missing:
        raise ConfigError(f"hand estimator {name!r} lacks {', '.join(missing)}(); see dexego.annotate.estimators.base.HandEstimator")
    if not getattr(estimator, "name", None):
        estimator.name = name
    return estimator
