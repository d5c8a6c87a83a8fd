import numpy as np
import pytest
import torch
from helpers_models import synthetic_batch, synthetic_chunks

from dexego.actions import Normalizer, get_space
from dexego.config import load_config
from dexego.errors import ConfigError, InputError
from dexego.models import Policy, PolicyConfig
from dexego.models.observation import prepare
from dexego.tokenizers import fit_tokenizer

TINY = {"tiny": {"image_size": 32, "patch_size": 16, "width": 48, "depth": 1, "heads": 2, "max_text_bytes": 16}}
SMALL_HEAD = {"width": 48, "depth": 1, "heads": 2}


def tiny_config(head: str, **extra) -> PolicyConfig:
    return load_config(PolicyConfig, {"head": head, **TINY, head: {**SMALL_HEAD, **extra}})


@pytest.fixture(scope="module")
def batch():
    return synthetic_batch(batch=3, seed=2)


def observation(batch, i=None):
    obs = {k: v for k, v in batch.items() if k not in ("actions", "action_valid")}
    if i is None:
        return obs
    return {k: (v[i] if not isinstance(v, list) else v[i]) for k, v in obs.items()}


def make_policy(head, stats, tokenizer=None, **extra):
    torch.manual_seed(0)
    return Policy(tiny_config(head, **extra), stats, tokenizer)


def fitted_tokenizer(kind, stats, extra=None, **config):
    """A tokenizer fitted on synthetic chunks (and the chunks ``extra``), normalised as the policy normalises them."""
    chunks = synthetic_chunks(300, seed=3) if extra is None else np.concatenate([synthetic_chunks(300, seed=3), extra])
    normalizer = Normalizer(stats, "mean_std", skip=get_space("ego48").part_mask("wrist_rot6d"))  # the policy default
    return fit_tokenizer(kind, normalizer.normalize(chunks).astype(np.float32), config)


def overfit(policy, batch, steps, lr=3e-3, evaluate=None):
    optimiser = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
    evaluate = evaluate or (lambda: float(policy(batch)[0].detach()))
    first = evaluate()
    for _ in range(steps):
        loss, _ = policy(batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return first, evaluate()


def seeded_loss(policy, batch, seeds=4):
    """Flow matching loss averaged over fixed noise draws (so two evaluations are comparable)."""
    state = torch.random.get_rng_state()
    try:
        policy.eval()  # no condition dropout
        with torch.no_grad():
            values = []
            for s in range(seeds):
                torch.manual_seed(s)
                values.append(float(policy(batch)[0]))
        policy.train()
        return float(np.mean(values))
    finally:
        torch.random.set_rng_state(state)


def test_regression_head_overfits_a_fixed_batch(stats, batch):
    policy = make_policy("regression", stats)
    first, last = overfit(policy, batch, steps=80)
    assert last < first / 10, (first, last)


def test_flow_head_overfits_a_fixed_batch(stats, batch):
    policy = make_policy("flow", stats, cond_dropout=0.0)
    first, last = overfit(policy, batch, steps=120, evaluate=lambda: seeded_loss(policy, batch))
    assert last < first / 10, (first, last)


@pytest.mark.parametrize("kind", ["rvq", "fast"])
def test_token_head_overfits_a_fixed_batch(stats, batch, kind):
    """The loss falls, and the greedily generated codes decode to the training chunks as well as the tokenizer's
    own round trip of those chunks does (its quantisation error is the floor), far better than the mean chunk."""
    # Every hand-step valid: invalid ones become zeros, far outside the tokenizer's fitting data (FAST then needs
    # more codes than its max_tokens, so no head could reproduce them).
    batch = dict(batch, action_valid=np.ones_like(batch["action_valid"]))
    # Fitted on synthetic chunks and copies of the batch's own chunks, as a tokenizer fitted on the training data
    # would be: its round trip of these chunks is close, so the bound below is tight.
    config = (
        {"train_steps": 150, "batch_size": 64, "hidden": 64, "codebook_size": 64}
        if kind == "rvq"
        else {"vocab_size": 300}
    )
    tokenizer = fitted_tokenizer(kind, stats, extra=np.repeat(batch["actions"], 100, axis=0), **config)
    policy = make_policy("tokens", stats, tokenizer, temperature=0.0)
    first, last = overfit(policy, batch, steps=40 if kind == "rvq" else 200)
    assert last < first / 10, (first, last)
    data, _ = prepare(batch, policy.space.dim, policy.config.n_obs_frames, policy.device, with_actions=True)
    normalizer = policy.normalizer()
    round_trip = tokenizer.decode(tokenizer.encode(normalizer.normalize(data["actions"]).numpy()))
    round_trip = normalizer.unnormalize(torch.from_numpy(round_trip).double()).numpy()
    target = data["actions"].double().numpy()

    def rms(chunks):
        return np.sqrt(((chunks - target) ** 2).mean(axis=(1, 2)))

    floor, bound = rms(round_trip), 2 * rms(round_trip) + 1e-3  # margin: float32 rounding of the decode
    assert (bound < rms(np.broadcast_to(stats["mean"], target.shape)) / 2).all(), floor  # the bound says something
    predicted = policy.predict_action_chunk(observation(batch))
    assert (rms(predicted) <= bound).all(), (rms(predicted), floor)


def test_predictions_are_unnormalised_chunks_in_the_action_space(stats, batch):
    policy = make_policy("regression", stats)
    single = policy.predict_action_chunk(observation(batch, 0))
    many = policy.predict_action_chunk(observation(batch))
    assert single.shape == (30, 48) and many.shape == (3, 30, 48) and single.dtype == np.float32
    np.testing.assert_allclose(single, many[0], atol=1e-5)
    # An untrained network outputs values near 0 in normalised units: near the data mean once un-normalised.
    wrist = slice(0, 3)
    assert np.abs(single[:, wrist] - stats["mean"][wrist]).max() < 5 * stats["std"][wrist].max()


@pytest.mark.parametrize("head", ["regression", "flow", "tokens"])
def test_save_load_reproduces_outputs_exactly(stats, batch, head, tmp_path):
    tokenizer = (
        fitted_tokenizer("rvq", stats, train_steps=10, batch_size=32, hidden=32, codebook_size=16)
        if head == "tokens"
        else None
    )
    policy = make_policy(head, stats, tokenizer)
    overfit(policy, batch, steps=2)  # weights differ from the initialisation
    policy.save(tmp_path / "policy")
    loaded = Policy.load(tmp_path / "policy")
    assert loaded.config == policy.config
    obs = observation(batch)
    np.testing.assert_array_equal(policy.predict_action_chunk(obs, seed=7), loaded.predict_action_chunk(obs, seed=7))
    np.testing.assert_array_equal(policy.normalizer().shift, loaded.normalizer().shift)
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "policy").rglob("*"))


def test_sampling_with_a_seed_is_reproducible_and_differs_across_seeds(stats, batch):
    policy = make_policy("flow", stats)
    obs = observation(batch, 0)
    a, b, c = (policy.predict_action_chunk(obs, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_flow_steps_and_guidance_are_configurable(stats, batch):
    obs = observation(batch, 0)
    one = make_policy("flow", stats, num_steps=1, cfg_scale=1.0)
    many = make_policy("flow", stats, num_steps=8, cfg_scale=1.0)  # same weights (same seed), other integration
    assert not np.allclose(one.predict_action_chunk(obs, seed=0), many.predict_action_chunk(obs, seed=0))
    guided = make_policy("flow", stats, num_steps=8, cfg_scale=3.0)
    overfit(guided, batch, steps=3)  # adaLN starts at zero: the condition matters only after some training
    many.load_state_dict(guided.state_dict())
    assert not np.allclose(guided.predict_action_chunk(obs, seed=0), many.predict_action_chunk(obs, seed=0))


def test_padded_history_frames_do_not_change_the_prediction(stats, batch):
    policy = make_policy("regression", stats)
    obs = observation(batch, 0)
    assert not obs["image_mask"][:2].any()
    changed = dict(obs, images=obs["images"].copy())
    changed["images"][:2] = 255 - changed["images"][:2]
    np.testing.assert_allclose(policy.predict_action_chunk(obs), policy.predict_action_chunk(changed), atol=1e-5)
    changed["images"][-1] = 255 - changed["images"][-1]
    assert not np.allclose(policy.predict_action_chunk(obs), policy.predict_action_chunk(changed), atol=1e-5)


def test_bad_input_is_named(stats, batch):
    policy = make_policy("regression", stats)
    missing = {k: v for k, v in batch.items() if k != "state"}
    with pytest.raises(InputError, match="state"):
        policy(missing)
    nan_state = dict(batch, state=batch["state"].copy())
    nan_state["state"][0, 0] = np.nan
    with pytest.raises(InputError, match="state: NaN"):
        policy(nan_state)
    invalid_hand = dict(nan_state, state_valid=np.array([[False, True]] + [[True, True]] * 2))
    policy(invalid_hand)  # NaN in a hand marked invalid is fine
    with pytest.raises(InputError, match="actions"):
        policy(dict(batch, actions=batch["actions"][..., :40]))
    with pytest.raises(InputError, match="stats"):
        Policy(tiny_config("regression"), {k: v[:10] for k, v in stats.items()})


def test_tokens_head_requires_a_tokenizer_and_configs_are_checked(stats):
    with pytest.raises(InputError, match="tokenizer"):
        Policy(tiny_config("tokens"), stats)
    with pytest.raises(ConfigError, match="head"):
        load_config(PolicyConfig, {"head": "diffusion"})
    with pytest.raises(ConfigError, match="action space"):
        load_config(PolicyConfig, {"action_space": "nope"})


def test_load_rejects_corrupt_weights(stats, tmp_path):
    policy = make_policy("regression", stats)
    policy.save(tmp_path / "p")
    (tmp_path / "p" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="model.safetensors"):
        Policy.load(tmp_path / "p")
    with pytest.raises(InputError, match="nothing: not found"):
        Policy.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no policy here; looked for config.json \+ model.safetensors"):
        Policy.load(tmp_path / "empty")


def relative_stats(batch):
    """Statistics of the batch's relative chunks (what dexego.data.targets computes from a dataset)."""
    from dexego.actions.relative import to_relative

    rel = to_relative(batch["actions"].astype(np.float64), batch["state"].astype(np.float64), "ego48")
    flat = rel.reshape(-1, 48)
    return {"mean": flat.mean(0), "std": flat.std(0) + 1e-3}


def test_relative_policy_predicts_motion_and_returns_absolute_chunks(stats, batch, tmp_path):
    from dexego.actions.relative import to_relative

    config = load_config(
        PolicyConfig, {"head": "regression", "action_frame": "relative", **TINY, "regression": SMALL_HEAD}
    )
    torch.manual_seed(0)
    policy = Policy(config, stats, target_stats=relative_stats(batch))
    # A head that predicts "no motion" (normalised output = the normalised identity motion) holds the current pose.
    identity = np.zeros(48)
    for side in (0, 1):
        identity[get_space("ego48").part_slice("wrist_rot6d", side)] = [1, 0, 0, 0, 1, 0]
    still = torch.as_tensor(policy.normalizer().normalize(identity), dtype=torch.float32)
    with torch.no_grad():
        for layer, part in zip(policy.head.hand_out, (slice(0, 24), slice(24, 48))):
            layer.weight.zero_()
            layer.bias.copy_(still[part])
    chunk = policy.predict_action_chunk(observation(batch))
    np.testing.assert_allclose(chunk, np.repeat(batch["state"][:, None], 30, axis=1), atol=1e-4)
    # Trained, it fits the relative targets; its absolute predictions approach the true chunks.
    torch.manual_seed(0)
    policy = Policy(config, stats, target_stats=relative_stats(batch))
    first, last = overfit(policy, batch, steps=80)
    assert last < first / 10, (first, last)
    predicted = policy.predict_action_chunk(observation(batch))
    true_rel = to_relative(batch["actions"].astype(np.float64), batch["state"].astype(np.float64), "ego48")
    pred_rel = to_relative(predicted.astype(np.float64), batch["state"].astype(np.float64), "ego48")
    pos = get_space("ego48").part_slice("wrist_pos", 0)
    assert np.abs(pred_rel[..., pos] - true_rel[..., pos]).mean() < np.abs(true_rel[..., pos]).mean()
    policy.save(tmp_path / "rel")
    loaded = Policy.load(tmp_path / "rel")
    np.testing.assert_allclose(loaded.predict_action_chunk(observation(batch)), predicted, atol=1e-5)
    np.testing.assert_allclose(loaded.normalizer().shift, policy.normalizer().shift)


def test_relative_policy_needs_target_statistics(stats):
    config = load_config(PolicyConfig, {"action_frame": "relative", **TINY})
    with pytest.raises(InputError, match="target_stats"):
        Policy(config, stats)
    with pytest.raises(InputError, match="target_stats"):
        Policy(load_config(PolicyConfig, TINY), stats, target_stats=stats)


def test_predict_action_chunk_names_wrong_inputs_and_select_action_queues_a_chunk():
    """Wrong frame counts, channels-last or non-square frames are named errors; select_action pops a queued chunk."""
    import numpy as np

    from dexego.errors import InputError
    from dexego.models import Policy, PolicyConfig, TinyBackboneConfig

    policy = Policy(
        PolicyConfig(horizon=5, n_obs_frames=3, tiny=TinyBackboneConfig(image_size=32, width=32, depth=1, heads=2))
    )
    rng = np.random.default_rng(0)
    good = {"images": rng.integers(0, 255, (3, 3, 32, 32), dtype=np.uint8), "instruction": "push", "state": np.zeros(48, np.float32),
            "state_valid": np.ones(2, bool), "fov": np.array([1.0, 1.0], np.float32)}  # fmt: skip
    assert policy.predict_action_chunk(good).shape == (5, 48)
    cases = {
        "expected 3 frames": {**good, "images": good["images"][:2]},
        "channels last": {**good, "images": good["images"].transpose(0, 2, 3, 1)},
        "would be stretched to the model's square 32x32": {**good, "images": np.zeros((3, 3, 32, 48), np.uint8)},
        "missing from the observation": {k: v for k, v in good.items() if k != "images"},
        "state: expected shape": {**good, "state": np.zeros(24, np.float32)},
    }
    for message, observation in cases.items():
        with pytest.raises(InputError, match=message):
            policy.predict_action_chunk(observation)
    # select_action: one chunk predicted, then its actions one by one; reset forgets the rest
    calls = []
    original = policy.predict_action_chunk
    policy.predict_action_chunk = lambda obs, seed=None: calls.append(1) or original(obs, seed=seed)
    chunk = original(good)
    actions = [policy.select_action(good, n_action_steps=3) for _ in range(4)]
    assert (
        len(calls) == 2
        and np.allclose(actions[:3], chunk[:3], atol=1e-5)
        and np.allclose(actions[3], chunk[0], atol=1e-5)
    )
    policy.reset()
    policy.select_action(good)
    assert len(calls) == 3
    with pytest.raises(InputError, match="n_action_steps: must be in 1..5"):
        policy.select_action(good, n_action_steps=6)
