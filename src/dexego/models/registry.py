"""Named registries: backbone and head names (as used in PolicyConfig) -> their module classes."""

from __future__ import annotations

from dexego.models.modeling_flow import FlowHead
from dexego.models.modeling_regression import RegressionHead
from dexego.models.modeling_tiny_backbone import TinyVLBackbone
from dexego.models.modeling_tokens import TokenHead

HEADS = {"regression": RegressionHead, "flow": FlowHead, "tokens": TokenHead}


def backbone_class(name: str):
    if name == "tiny":
        return TinyVLBackbone
    if name == "hf":  # imports transformers only when asked for
        from dexego.models.modeling_hf_backbone import HFVLMBackbone

        return HFVLMBackbone
    raise KeyError(f"unknown backbone {name!r}; known: tiny, hf")
