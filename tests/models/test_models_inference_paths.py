"""The optimized computation (default) against the plain reference one, the frame cache and history pooling."""

import numpy as np
import pytest
import torch
from helpers_models import synthetic_batch, synthetic_chunks

from dexego.config import load_config
from dexego.errors import ConfigError
from dexego.models import Policy, PolicyConfig
from dexego.models.frame_cache import FrameFeatureCache
from dexego.models.layers import Transformer
from dexego.tokenizers import fit_tokenizer

TINY = {"image_size": 32, "patch_size": 8, "width": 48, "depth": 2, "heads": 2, "max_text_bytes": 24}
HEAD = {"width": 48, "depth": 2, "heads": 2}


@pytest.fixture(scope="module")
def batch():
    """Every sample pads its two oldest frames (so whole frame columns can be left out), one instruction is
    longer than the byte limit, one is short (so text columns are trimmed), frames are larger than image_size."""
    data = synthetic_batch(batch=3, size=40, seed=5)
    data["image_mask"][:, :2] = False
    data["image_mask"][1, 2] = False
    data["instruction"] = ["put the red cup on the top shelf please", "go", "open it"]
    return data


def observation(batch):
    return {k: v for k, v in batch.items() if k not in ("actions", "action_valid")}


def make_policy(head, stats, tokenizer=None, tiny=None, **extra):
    config = load_config(PolicyConfig, {"head": head, "tiny": {**TINY, **(tiny or {})}, head: {**HEAD, **extra}})
    torch.manual_seed(0)
    policy = Policy(config, stats, tokenizer)
    with torch.no_grad():  # adaLN starts at zero; give the modulations weight so conditioning matters
        for name, param in policy.named_parameters():
            if "modulation" in name:
                param.normal_(0.0, 0.05)
    return policy


def loss_and_grads(policy, batch, optimized):
    policy.optimized = optimized
    policy.train()
    torch.manual_seed(11)  # same flow noise / times in both paths
    loss, _ = policy(batch)
    policy.zero_grad()
    loss.backward()
    return float(loss.detach()), torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None])


@pytest.mark.parametrize("head", ["regression", "flow"])
def test_optimized_and_reference_paths_agree_in_training_and_inference(stats, batch, head):
    policy = make_policy(head, stats, cond_dropout=0.0) if head == "flow" else make_policy(head, stats)
    fast_loss, fast_grads = loss_and_grads(policy, batch, True)
    ref_loss, ref_grads = loss_and_grads(policy, batch, False)
    np.testing.assert_allclose(fast_loss, ref_loss, rtol=1e-5)
    assert float((fast_grads - ref_grads).norm() / ref_grads.norm()) < 1e-4
    obs = observation(batch)
    policy.optimized = True
    fast = policy.predict_action_chunk(obs, seed=3)
    policy.optimized = False
    ref = policy.predict_action_chunk(obs, seed=3)
    np.testing.assert_allclose(fast, ref, atol=1e-4)
    assert not np.allclose(fast[0], fast[1], atol=1e-3)  # the samples differ: the comparison is not vacuous


def test_token_head_paths_agree(stats, batch):
    chunks = synthetic_chunks(200, seed=3)
    tokenizer = fit_tokenizer("rvq", ((chunks - stats["mean"]) / stats["std"]).astype(np.float32),
                              {"train_steps": 10, "batch_size": 32, "hidden": 32, "codebook_size": 16})  # fmt: skip
    policy = make_policy("tokens", stats, tokenizer, temperature=0.0)
    fast_loss, _ = loss_and_grads(policy, batch, True)
    ref_loss, _ = loss_and_grads(policy, batch, False)
    np.testing.assert_allclose(fast_loss, ref_loss, rtol=1e-5)
    obs = observation(batch)
    policy.optimized = True
    fast = policy.predict_action_chunk(obs)
    policy.optimized = False
    np.testing.assert_allclose(fast, policy.predict_action_chunk(obs), atol=1e-5)


def test_backbone_leaves_out_fully_masked_columns_and_pooled_only_keeps_the_summary(stats, batch):
    policy = make_policy("regression", stats)
    backbone = policy.backbone.eval()
    images = torch.from_numpy(batch["images"])
    mask = torch.from_numpy(batch["image_mask"])
    with torch.no_grad():
        full = backbone(images, mask, batch["instruction"], optimized=False)
        fast = backbone(images, mask, batch["instruction"])
        pooled = backbone(images, mask, batch["instruction"], pooled_only=True)
    patches = (32 // 8) ** 2
    longest = min(len(batch["instruction"][0]), TINY["max_text_bytes"])
    assert full.tokens.shape[1] == 1 + 6 * patches + TINY["max_text_bytes"]
    assert fast.tokens.shape[1] == 1 + 4 * patches + longest  # two padded frame columns, text past the longest
    assert pooled.tokens.shape[1] == 1
    torch.testing.assert_close(fast.pooled, full.pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pooled.pooled, full.pooled, atol=1e-5, rtol=1e-5)
    kept = torch.cat([torch.arange(1 + 2 * patches, 1 + 6 * patches + longest)])  # summary + kept frames + text
    kept = torch.cat([torch.zeros(1, dtype=torch.long), kept])
    torch.testing.assert_close(fast.tokens[fast.mask], full.tokens[:, kept][full.mask[:, kept]], atol=1e-5, rtol=1e-5)


def test_transformer_keep_computes_the_same_rows():
    torch.manual_seed(0)
    net = Transformer(32, 2, 4).eval()
    x = torch.randn(2, 10, 32)
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[0, 3:5] = False
    with torch.no_grad():
        full = net(x, valid[:, None, :].expand(-1, 10, -1))
        rows = net(x, valid[:, None, :], keep=slice(6, None))
    assert rows.shape == (2, 4, 32)
    torch.testing.assert_close(rows, full[:, 6:], atol=1e-5, rtol=1e-5)


def sliding_observations(count, size=40, seed=0):
    video = np.random.default_rng(seed).integers(0, 256, (count + 6, 3, size, size), dtype=np.uint8)
    base = {
        k: v[0] for k, v in observation(synthetic_batch(batch=1, size=8)).items() if k not in ("images", "image_mask")
    }
    return [dict(base, images=video[i : i + 6], image_mask=np.ones(6, dtype=bool)) for i in range(count)]


def test_frame_cache_reuses_history_frames_and_matches_uncached_outputs(stats):
    policy = make_policy("regression", stats)
    cached = make_policy("regression", stats)
    cached.set_frame_cache(8)
    cache = cached.backbone.frame_cache
    for obs in sliding_observations(5):
        np.testing.assert_allclose(cached.predict_action_chunk(obs), policy.predict_action_chunk(obs), atol=1e-5)
    assert (cache.misses, cache.hits) == (6 + 4, 4 * 5)  # after the first query, one new frame per query
    assert len(cache) == 8  # capacity bounds what is kept


def test_frame_cache_forgets_features_when_weights_change_and_is_unused_in_training(stats, batch):
    policy = make_policy("regression", stats)
    policy.set_frame_cache(12)
    obs = sliding_observations(1)[0]
    before = policy.predict_action_chunk(obs)
    with torch.no_grad():
        policy.backbone.patch_embed.weight.mul_(2.0)  # an in-place update, as an optimiser step
    after = policy.predict_action_chunk(obs)
    fresh = make_policy("regression", stats)
    fresh.load_state_dict(policy.state_dict())
    np.testing.assert_allclose(after, fresh.predict_action_chunk(obs), atol=1e-5)
    assert not np.allclose(before, after, atol=1e-4)
    misses = policy.backbone.frame_cache.misses
    policy.train()
    policy(batch)[0].backward()  # training never reads or fills the cache
    assert policy.backbone.frame_cache.misses == misses and policy.training


def test_frame_cache_checks_content_not_only_the_hash():
    cache = FrameFeatureCache(4)
    weights = (torch.zeros(1),)
    frame = torch.zeros(3, 4, 4, dtype=torch.uint8)
    cache.features(frame[None], lambda f: f.float().sum((1, 2, 3))[:, None], weights)
    key = cache._key(frame)
    other = frame.clone()
    other[0, 0, 0] = 7
    cache._entries[cache._key(other)] = cache._entries.pop(key)  # pretend the two frames collide
    out = cache.features(other[None], lambda f: f.float().sum((1, 2, 3))[:, None], weights)
    assert float(out[0, 0]) == 7.0 and cache.misses == 2


def test_frame_cache_settings_are_checked(stats):
    policy = make_policy("regression", stats)
    with pytest.raises(ConfigError, match="capacity"):
        policy.set_frame_cache(-1)
    policy.set_frame_cache(4)
    policy.set_frame_cache(0)
    assert policy.backbone.frame_cache is None
    with pytest.raises(ValueError, match="capacity"):
        FrameFeatureCache(0)


def test_history_pool_cuts_history_tokens_and_still_learns(stats, batch):
    policy = make_policy("regression", stats, tiny={"history_pool": 2})
    images = torch.from_numpy(batch["images"])
    mask = torch.ones(3, 6, dtype=torch.bool)
    with torch.no_grad():
        out = policy.backbone(images, mask, ["go"] * 3)
    grid = 32 // 8
    assert out.tokens.shape[1] == 1 + 5 * (grid // 2) ** 2 + grid**2 + 2
    fast_loss, _ = loss_and_grads(policy, batch, True)
    ref_loss, _ = loss_and_grads(policy, batch, False)
    np.testing.assert_allclose(fast_loss, ref_loss, rtol=1e-5)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=3e-3, weight_decay=0.0)
    first = float(policy(batch)[0].detach())
    for _ in range(60):
        loss, _ = policy(batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert float(policy(batch)[0].detach()) < first / 10
    with pytest.raises(ConfigError, match="history_pool"):
        load_config(PolicyConfig, {"tiny": {**TINY, "history_pool": 3}})


def test_prediction_keeps_the_training_mode(stats, batch):
    policy = make_policy("regression", stats)
    policy.train()
    policy.predict_action_chunk(observation(batch))
    assert policy.training and policy.backbone.training
    policy.eval()
    policy.predict_action_chunk(observation(batch))
    assert not policy.training
