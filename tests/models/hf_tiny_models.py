"""Tiny random Hugging Face VLMs of each supported architecture, saved to a directory (no downloads)."""

from __future__ import annotations

from pathlib import Path

import torch

VOCAB = 320  # > 256 + 3 so byte-level text fits; special ids live above 300


def tiny_config(arch: str):
    from transformers import Idefics3Config, PaliGemmaConfig, Qwen2_5_VLConfig

    text = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=512, pad_token_id=0)  # fmt: skip
    if arch == "idefics3":
        return Idefics3Config(
            vision_config=dict(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                image_size=32,
                patch_size=8,
            ),
            text_config=dict(model_type="llama", head_dim=8, **text),
            image_token_id=310,
            scale_factor=2,
        )
    if arch == "paligemma":
        return PaliGemmaConfig(
            vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=4, image_size=32, patch_size=8, projection_dim=32),
            text_config=dict(model_type="gemma2", head_dim=8, num_image_tokens=16, **text),
            image_token_index=310, projection_dim=32, vocab_size=VOCAB)  # fmt: skip
    if arch == "qwen2_5_vl":
        return Qwen2_5_VLConfig(
            vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=32, patch_size=8,
                               spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[1], window_size=32),
            # rope_theta + rope_scaling: read by transformers 4.5x as given and by 5.x as its legacy spelling of
            # rope_parameters (5.x alone would write rope_parameters, which 4.5x ignores: no mrope_section)
            text_config=dict(model_type="qwen2_5_vl_text", rope_theta=10000.0,
                             rope_scaling={"rope_type": "default", "mrope_section": [1, 1, 2]}, **text),
            image_token_id=310, video_token_id=311, vision_start_token_id=312, vision_end_token_id=313)  # fmt: skip
    raise KeyError(arch)


def save_tiny_model(arch: str, directory: Path, seed: int = 0) -> Path:
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(tiny_config(arch))
    model.save_pretrained(str(directory))
    return directory
