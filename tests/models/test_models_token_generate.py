"""The token head's fast ``generate`` against its original decoding loop (helpers_token_reference)."""

import codecs

import numpy as np
import pytest
import torch
from helpers_models import synthetic_batch, synthetic_chunks
from helpers_token_reference import reference_generate

from dexego.config import load_config
from dexego.models import Policy, PolicyConfig
from dexego.models.fast_completion import FASTCompletion
from dexego.models.layers import KVCache
from dexego.models.observation import prepare
from dexego.tokenizers import fit_tokenizer

TINY = {"image_size": 32, "patch_size": 16, "width": 48, "depth": 1, "heads": 2, "max_text_bytes": 24}
HEAD = {"width": 48, "depth": 2, "heads": 2}


@pytest.fixture(scope="module")
def tokenizers(stats):
    normalised = ((synthetic_chunks(300, seed=3) - stats["mean"]) / stats["std"]).astype(np.float32)
    return {"rvq": fit_tokenizer("rvq", normalised, {"train_steps": 10, "batch_size": 32, "hidden": 32, "codebook_size": 16}),
            "fast": fit_tokenizer("fast", normalised, {"vocab_size": 1024})}  # fmt: skip


def head_inputs(policy, batch_size):
    """Inputs of ``batch_size`` rows; with 2+ rows the prefixes hold padding (history frames, instruction bytes)."""
    data = synthetic_batch(batch=batch_size, seed=7)
    data["instruction"] = ["put the red cup on the top shelf", "go", "open the drawer"][:batch_size]
    obs = {k: v for k, v in data.items() if k not in ("actions", "action_valid")}
    with torch.inference_mode():
        prepared, _ = prepare(obs, policy.space.dim, policy.config.n_obs_frames, policy.device, with_actions=False)
        return policy._head_inputs(prepared)


def token_policy(stats, tokenizer, temperature, seed=0):
    config = load_config(PolicyConfig, {"head": "tokens", "tiny": TINY, "tokens": {**HEAD, "temperature": temperature}})
    torch.manual_seed(seed)
    return Policy(config, stats, tokenizer).eval()


def both(head, inputs, seed):
    new = head.generate(inputs, torch.Generator().manual_seed(seed))
    old = reference_generate(head, inputs, torch.Generator().manual_seed(seed))
    return new, old


@pytest.mark.parametrize("temperature", [0.0, 0.75])
def test_rvq_generate_gives_exactly_the_reference_codes(stats, tokenizers, temperature):
    tokenizer = tokenizers["rvq"]
    for batch_size in (1, 2, 3):
        policy = token_policy(stats, tokenizer, temperature, seed=batch_size)
        inputs = head_inputs(policy, batch_size)
        assert bool(inputs.backbone.mask.all()) == (batch_size == 1)  # padded prefixes from 2 rows on
        new, old = both(policy.head, inputs, seed=batch_size)
        assert new == old
        assert all(len(seq) == tokenizer.max_tokens for seq in new)


def test_fast_generate_stops_once_the_chunk_is_decoded_and_otherwise_matches_the_reference(stats, tokenizers):
    """Greedy and sampled heads, one with a raised EOS logit; batches of 1-3 rows. Each row ends one of three
    ways: EOS, max_tokens (both exactly as the reference) or complete (a prefix of the reference's codes)."""
    tokenizer = tokenizers["fast"]
    outcomes = {"complete": 0, "EOS": 0, "max_tokens": 0}
    for temperature, eos_bias in [(0.0, 0.0), (0.75, 0.0), (0.75, 4.0)]:
        for batch_size in (1, 2, 3):
            policy = token_policy(stats, tokenizer, temperature, seed=10 + batch_size)
            with torch.no_grad():
                policy.head.logits.bias[policy.head.codes] += eos_bias
            inputs = head_inputs(policy, batch_size)
            new, old = both(policy.head, inputs, seed=batch_size)
            np.testing.assert_array_equal(tokenizer.decode(new), tokenizer.decode(old))
            for short, full in zip(new, old):
                assert short == full[: len(short)]
                if len(short) < len(full):  # stopped before EOS: the codes so far decode to the whole chunk
                    outcomes["complete"] += 1
                    assert len(tokenizer.bpe.decode(short)) >= tokenizer.horizon * tokenizer.dim
                else:
                    outcomes["max_tokens" if len(full) == tokenizer.max_tokens else "EOS"] += 1
    assert min(outcomes.values()) > 0, outcomes  # every way of ending was exercised


def test_fast_completion_counts_final_characters_like_the_tokenizer_decodes(tokenizers):
    tokenizer = tokenizers["fast"]
    completion = FASTCompletion.for_tokenizer(tokenizer)
    assert completion is not None and FASTCompletion.for_tokenizer(tokenizers["rvq"]) is None
    rng = np.random.default_rng(0)
    for _ in range(50):  # random ids: plenty of invalid and incomplete UTF-8
        ids = rng.integers(0, tokenizer.vocab_size, rng.integers(1, 40)).tolist()
        state = completion.start(1)
        for code in ids:
            state.add(0, code)
        held_back = state.decoders[0].decode(b"", final=True)
        assert state.final_chars[0] + len(held_back) == len(tokenizer.bpe.decode(ids))
    # Real chunks: complete exactly when their codes are all read (not before the last code).
    normalised = rng.normal(0, 1, (4, tokenizer.horizon, tokenizer.dim)).astype(np.float32) * 0.3
    for ids in tokenizer.encode(normalised):
        state = completion.start(1)
        flags = [state.add(0, code) for code in ids]
        assert flags[-1] and not any(flags[:-1])


def test_kv_cache_returns_all_keys_so_far_and_refuses_overflow():
    cache = KVCache(5)
    first, second = torch.randn(2, 3, 3, 4), torch.randn(2, 3, 2, 4)
    k, v = cache.update(first, -first)
    torch.testing.assert_close(k, first, rtol=0, atol=0)
    k, v = cache.update(second, -second)
    torch.testing.assert_close(k, torch.cat([first, second], dim=2), rtol=0, atol=0)
    torch.testing.assert_close(v, -torch.cat([first, second], dim=2), rtol=0, atol=0)
    with pytest.raises(ValueError, match="full"):
        cache.update(second[:, :, :1], second[:, :, :1])


def test_incremental_utf8_decoding_holds_back_incomplete_sequences():
    """The property the FAST early stop relies on: an incomplete trailing sequence is not counted yet."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    assert decoder.decode("é".encode()[:1]) == "" and decoder.decode("é".encode()[1:]) == "é"
    assert decoder.decode(b"\x80") == "\ufffd"  # a stray continuation byte is final at once
