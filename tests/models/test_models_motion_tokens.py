"""The tokens head with METIS's visual-dynamics tokens ([dynamics codes][hand codes]) and its decoder head."""

import numpy as np
import pytest
import torch
from helpers_models import synthetic_batch
from test_models_policy import fitted_tokenizer, make_policy, observation, overfit

from dexego.errors import InputError
from dexego.models import Policy
from dexego.tokenizers import load_tokenizer
from dexego.tokenizers.dynamics import DynamicsConfig, DynamicsTokenizer
from dexego.tokenizers.motion import MotionTokenizer


@pytest.fixture(scope="module")
def motion(stats):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (16, 3, 32, 32), dtype=np.uint8)
    config = DynamicsConfig(image_size=32, num_tokens=4, codebook_size=8, code_dim=8, width=8, steps=5, batch_size=4)
    dynamics = DynamicsTokenizer.fit(frames, frames[::-1], config)
    hand = fitted_tokenizer("rvq", stats, train_steps=20, batch_size=32, hidden=32, codebook_size=16)
    return MotionTokenizer(dynamics, hand)


def _batch():
    batch = synthetic_batch(batch=3, seed=4)
    batch["action_valid"] = np.ones_like(batch["action_valid"])
    batch["future_image"] = np.random.default_rng(5).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    return batch


def test_motion_sequences_put_dynamics_codes_first_in_their_own_id_range(motion):
    hand = motion.hand
    assert motion.vocab_size == hand.vocab_size + 8 and motion.max_tokens == 4 + hand.max_tokens
    assert [motion.token_range(p) for p in range(4)] == [(hand.vocab_size, hand.vocab_size + 8)] * 4
    assert motion.token_range(4) == hand.token_range(0)
    batch = _batch()
    chunks = np.zeros((3, 30, 48), np.float32)
    tokens = motion.encode(chunks, batch["images"][:, -1], batch["future_image"])
    expected_dyn = motion.dynamics.encode(batch["images"][:, -1], batch["future_image"])
    for seq, dyn in zip(tokens, expected_dyn):
        assert motion.split(seq)[0] == dyn.tolist() and len(seq) == motion.max_tokens
    np.testing.assert_array_equal(motion.decode(tokens), hand.decode(hand.encode(chunks)))
    with pytest.raises(InputError, match="future_image"):
        motion.encode(chunks)


def test_token_head_trains_on_dynamics_then_hand_codes_and_round_trips(motion, stats, tmp_path):
    batch = _batch()
    policy = make_policy("tokens", stats, motion, temperature=0.0)
    first, last = overfit(policy, batch, steps=40)
    assert last < first / 5, (first, last)
    _, metrics = policy(batch)
    assert metrics["dynamics_accuracy"] > 0.9, metrics
    codes = policy.head.generate(policy._head_inputs(_prepared(policy, batch)))
    assert all(len(seq) == motion.max_tokens for seq in codes)
    assert all(motion.offset <= c < motion.vocab_size for seq in codes for c in seq[:4])  # dynamics ids first
    assert all(c < motion.offset for seq in codes for c in seq[4:])
    chunk = policy.predict_action_chunk(observation(batch, 0))  # inference needs no future frame
    assert chunk.shape == (30, 48) and np.isfinite(chunk).all()
    policy.save(tmp_path / "p")
    loaded = Policy.load(tmp_path / "p")
    assert isinstance(loaded.head.tokenizer, MotionTokenizer)
    assert isinstance(load_tokenizer(tmp_path / "p" / "tokenizer"), MotionTokenizer)
    np.testing.assert_allclose(loaded.predict_action_chunk(observation(batch, 0)), chunk, atol=1e-5)
    without_future = {k: v for k, v in batch.items() if k != "future_image"}
    with pytest.raises(InputError, match="future_image"):
        policy(without_future)


def test_decoder_head_turns_generated_codes_into_the_chunk(motion, stats):
    batch = _batch()
    policy = make_policy("tokens", stats, motion, temperature=0.0, decoder="head")
    first, last = overfit(policy, batch, steps=80)
    assert last < first / 5, (first, last)
    _, metrics = policy(batch)
    assert metrics["decoder_l1"] < 0.3, metrics  # normalised units
    predicted = policy.predict_action_chunk(observation(batch))
    target = batch["actions"]
    rms = np.sqrt(((predicted - target) ** 2).mean())
    assert rms < np.sqrt(((stats["mean"] - target) ** 2).mean()) / 2, rms


def _prepared(policy, batch):
    from dexego.models.observation import prepare

    with torch.no_grad():
        return prepare(batch, policy.space.dim, policy.config.n_obs_frames, policy.device, with_actions=True)[0]


def test_reasoning_policy_says_its_plan_before_acting(stats):
    """The plan slot learns the batch's plan texts; predict_action_chunk returns the generated plan beside the chunk."""
    batch = synthetic_batch(batch=3, seed=6)
    batch["action_valid"] = np.ones_like(batch["action_valid"])
    batch["plan"] = ["reach drawer", "lift", "finish the task"]
    hand = fitted_tokenizer("rvq", stats, train_steps=20, batch_size=32, hidden=32, codebook_size=16)
    policy = make_policy("tokens", stats, hand, temperature=0.0, reasoning=True, plan_bytes=16)
    head = policy.head
    assert head.plan_text(head.plan_ids(["lift"])[0]) == "lift" and len(head.plan_ids(["x" * 40])[0]) == 16
    first, last = overfit(policy, batch, steps=60)
    assert last < first / 5, (first, last)
    chunk, plans = policy.predict_action_chunk(observation(batch), return_plan=True)
    assert plans == batch["plan"] and chunk.shape == (3, 30, 48)
    single, plan = policy.predict_action_chunk(observation(batch, 1), return_plan=True)
    assert plan == "lift" and single.shape == (30, 48)
    codes = head.generate(policy._head_inputs(_prepared(policy, batch)))
    assert all(hand.vocab_size <= c <= head.plan_end for seq in codes for c in seq[:16])  # plan ids first
    assert all(c < hand.vocab_size for seq in codes for c in seq[16:])
    with pytest.raises(InputError, match="plan"):
        policy({k: v for k, v in batch.items() if k != "plan"})
    plain = make_policy("regression", stats)
    assert plain.predict_action_chunk(observation(batch, 0), return_plan=True)[1] is None
