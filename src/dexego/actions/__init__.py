"""The unified hand action space: layouts, conversions, masks, normalisation."""

from dexego.actions.convert import HandPoints, action_to_keypoints, keypoints_to_action, mano_to_action
from dexego.actions.normalize import Normalizer
from dexego.actions.spaces import EGO48, KP21, MANO, SPACES, ActionSpace, get_space

__all__ = [
    "EGO48",
    "KP21",
    "MANO",
    "SPACES",
    "ActionSpace",
    "HandPoints",
    "Normalizer",
    "action_to_keypoints",
    "get_space",
    "keypoints_to_action",
    "mano_to_action",
]
