"""Training stages read their datasets from a mixture file (data.mixture) as well as inline (data.sources)."""

import json
from pathlib import Path

import numpy as np
import pytest

from dexego.cli import main
from dexego.configs import config_path
from dexego.data.mixtures import MixtureSampler
from dexego.errors import ConfigError
from dexego.train.build import build_stage_data
from dexego.train.config import load_stage_config

CPU_PRETRAIN = config_path("cpu/pretrain")
INLINE = '[[data.sources]]\npath = "data/sim/human"\n'


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    """``<root>/data/{big,small}``: 2 and 1 episodes of 60 frames, without video (fast)."""
    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode

    root = tmp_path_factory.mktemp("mixture")
    for name, episodes in (("big", 2), ("small", 1)):
        with DatasetWriter(root / "data" / name) as writer:
            for i in range(episodes):
                writer.add_episode(synthetic_episode(length=60, video=False, seed=10 * episodes + i))
    return root


def _stage(root: Path, data_lines: str, mixture_body: str | None = None) -> Path:
    """The CPU pretraining recipe at <root>/configs/stage.toml with its datasets replaced by ``data_lines``."""
    text = CPU_PRETRAIN.read_text()
    assert INLINE in text
    config = root / "configs" / "stage.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text.replace(INLINE, data_lines))
    if mixture_body is not None:
        (root / "configs" / "mixes").mkdir(exist_ok=True)
        (root / "configs" / "mixes" / "m.toml").write_text(mixture_body)
    return config


MIX_3_TO_1 = 'root = "../../data"\n[[datasets]]\npath = "big"\nweight = 3\n[[datasets]]\npath = "small"\nweight = 1\n'


def test_mixture_file_weights_set_the_sampled_ratio(two_datasets, monkeypatch):
    monkeypatch.chdir(two_datasets.parent)  # the mixture path does not depend on the working directory
    stage = _stage(two_datasets, 'mixture = "mixes/m.toml"\n', MIX_3_TO_1)
    config = load_stage_config(stage, ["data.val_fraction=0", "loop.progress=false"])
    assert Path(config.data.mixture) == two_datasets / "configs" / "mixes" / "m.toml"  # relative to the config file
    data = build_stage_data(config)
    sizes = [len(d) for d in data.train_sources]
    assert sizes[0] == 2 * sizes[1]  # natural shares 2:1; the weights, not the sizes, set the drawn shares
    sampler = MixtureSampler(sizes, data.weights, seed=0, num_samples=data.samples_per_epoch)
    assert sampler.num_samples == sum(sizes) and abs(sampler.counts[0] - 0.75 * sum(sizes)) <= 0.5  # natural length
    long = MixtureSampler(sizes, data.weights, seed=1, num_samples=4000)
    assert long.counts == [3000, 1000]
    for epoch in range(2):
        first = long.epoch_indices(epoch).numpy()[:400]
        # a window of a shuffled epoch of 3000 + 1000 draws is hypergeometric: sd ~ 8.2 for 400 draws; allow 4 sd
        assert abs(int((first < sizes[0]).sum()) - 300) <= 33


def test_inline_sources_without_weights_still_draw_every_sample_once(two_datasets):
    lines = "".join(f'[[data.sources]]\npath = "{two_datasets / "data" / n}"\n' for n in ("big", "small"))
    data = build_stage_data(
        load_stage_config(_stage(two_datasets, lines), ["data.val_fraction=0", "loop.progress=false"])
    )
    sizes = [len(d) for d in data.train_sources]
    sampler = MixtureSampler(sizes, data.weights, seed=0, num_samples=data.samples_per_epoch)
    assert sampler.counts == sizes
    assert np.array_equal(np.sort(sampler.epoch_indices(0).numpy()), np.arange(sum(sizes)))


def test_train_check_accepts_a_mixture_config(two_datasets, capsys, monkeypatch):
    monkeypatch.chdir(two_datasets.parent)  # the mixture path does not depend on the working directory
    config = _stage(two_datasets, 'mixture = "mixes/m.toml"\n', MIX_3_TO_1)
    assert main(["train", str(config), "--check"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (
        printed["data"]["mixture"] == str(two_datasets / "configs" / "mixes" / "m.toml")
        and printed["data"]["sources"] == []
    )


def test_unknown_dataset_in_the_mixture_names_the_file_and_the_field(two_datasets, capsys):
    body = MIX_3_TO_1.replace('path = "small"', 'path = "smal"')
    config = _stage(two_datasets, 'mixture = "mixes/m.toml"\n', body)
    assert main(["train", str(config), "--check"]) == 2
    mixture = two_datasets / "configs" / "mixes" / "m.toml"
    err = capsys.readouterr().err
    assert f"{mixture}: datasets[1].path: dataset not found: " in err and "smal" in err and "Traceback" not in err


def test_mixture_and_inline_sources_together_are_refused(two_datasets):
    config = _stage(two_datasets, 'mixture = "mixes/m.toml"\n' + INLINE, MIX_3_TO_1)
    with pytest.raises(ConfigError, match=r"data: .*data.sources.*data.mixture.*not both"):
        load_stage_config(config)


def test_relative_action_frame_fits_the_normaliser_on_relative_chunks_and_trains(two_datasets, tmp_path):
    from dexego.data import SampleSource
    from dexego.data.targets import target_stats
    from dexego.models import Policy
    from dexego.train.build import run_stage, sample_config

    lines = f'[[data.sources]]\npath = "{two_datasets / "data" / "big"}"\n'
    overrides = ["data.val_fraction=0", "loop.progress=false", "model.action_frame=relative", "loop.max_steps=2",
                 "loop.batch_size=2", "loop.val_every=0", "loop.checkpoint_every=0", f"output_dir={tmp_path / 'run'}",
                 "model.tiny.width=32", "model.regression.width=32"]  # fmt: skip
    config = load_stage_config(_stage(two_datasets, lines), overrides)
    data = build_stage_data(config)
    source = SampleSource(two_datasets / "data" / "big", sample_config(config, _model(config)), [0, 1])
    expected = target_stats([source], "relative")
    np.testing.assert_allclose(data.target_stats["mean"], expected["mean"])
    result = run_stage(config)
    policy = Policy.load(result.final_dir)
    assert policy.config.action_frame == "relative"
    np.testing.assert_allclose(policy.normalizer().shift[:3], expected["mean"][:3], rtol=1e-6)  # the head's targets
    assert not np.allclose(policy.state_normalizer().shift[:3], policy.normalizer().shift[:3])  # the state's own


def _model(config):
    from dexego.train.build import policy_config

    return policy_config(config)


def test_flip_augmentation_is_configured_per_stage_and_reaches_training_sources_only(two_datasets):
    from dexego.data.augment import FlipConfig

    lines = f'[[data.sources]]\npath = "{two_datasets / "data" / "big"}"\n'
    embodiment = _first_embodiment(two_datasets / "data" / "big")
    flip = f'data.flip={{probability = 0.5, embodiments = ["{embodiment}"], seed = 3}}'
    config = load_stage_config(_stage(two_datasets, lines), ["data.val_fraction=0.5", "loop.progress=false", flip])
    assert config.data.flip == FlipConfig(probability=0.5, embodiments=(embodiment,), seed=3)
    data = build_stage_data(config)
    assert [s.flip for s in data.train_sources[0].sources] == [config.data.flip]
    assert all(s.flip.probability == 0.0 for v in data.val.values() for s in v.sources)
    with pytest.raises(ConfigError, match="flip.probability"):
        load_stage_config(_stage(two_datasets, lines), ["data.flip={probability = 2.0}"])


def _first_embodiment(path):
    from dexego.data import Dataset

    dataset = Dataset(path)
    try:
        return dataset.episode_meta(0)["embodiment"]
    finally:
        dataset.close()


def test_with_flip_augmentation_the_normaliser_is_fitted_on_what_training_sees(two_datasets):
    """Off: the datasets' stored statistics, unchanged. On: originals (1 - p) and their mirror images (p), for the
    stored statistics and for the head's relative targets, which equal those of the samples training draws."""
    from dexego.actions import get_space
    from dexego.data import Dataset, SampleSource
    from dexego.data.augment import FlipConfig, flip_dataset_stats
    from dexego.data.features import ACTION
    from dexego.data.stats import feature_stats
    from dexego.data.targets import _finite_rows, _target_values
    from dexego.train.build import sample_config

    path = two_datasets / "data" / "big"
    lines = f'[[data.sources]]\npath = "{path}"\n'
    embodiment = _first_embodiment(path)
    base = ["data.val_fraction=0", "loop.progress=false"]
    stored = Dataset(path).stats[ACTION]
    plain = build_stage_data(load_stage_config(_stage(two_datasets, lines), base))
    off = build_stage_data(load_stage_config(_stage(two_datasets, lines), [*base, "data.flip={probability = 0.0}"]))
    for data in (plain, off):  # flip off: the stored statistics, byte for byte
        assert data.action_stats.keys() == stored.keys()
        assert all(np.array_equal(data.action_stats[k], stored[k]) for k in stored)

    flip = f'data.flip={{probability = 0.5, embodiments = ["{embodiment}"]}}'
    half = build_stage_data(load_stage_config(_stage(two_datasets, lines), [*base, flip]))
    expected = flip_dataset_stats(Dataset(path), ACTION, FlipConfig(0.5, (embodiment,)), "ego48")
    for name in ("mean", "std", "q01", "q99"):
        np.testing.assert_array_equal(half.action_stats[name], expected[name])
    assert not np.allclose(half.action_stats["mean"], stored["mean"])
    left_x, right_x = 0, 24  # a mirror image's left wrist x is minus the original's right wrist x
    assert half.action_stats["mean"][left_x] == pytest.approx(0.5 * (stored["mean"][left_x] - stored["mean"][right_x]))

    always = f'data.flip={{probability = 1.0, embodiments = ["{embodiment}"]}}'
    config = load_stage_config(_stage(two_datasets, lines), [*base, always, "model.action_frame=relative"])
    data = build_stage_data(config)
    source = SampleSource(path, sample_config(config, _model(config)), [0, 1], flip=config.data.flip)
    drawn = [s for ep in (0, 1) for s in source.samples(ep, list(source.anchors[ep]))]  # as training draws them
    seen = feature_stats(_finite_rows(_target_values(drawn, get_space("ego48"), "relative")))
    for name in ("mean", "std", "min", "max", "q50"):
        np.testing.assert_allclose(data.target_stats[name], seen[name], rtol=1e-9, atol=1e-12, err_msg=name)
    unflipped = build_stage_data(load_stage_config(_stage(two_datasets, lines), [*base, "model.action_frame=relative"]))
    assert not np.allclose(unflipped.target_stats["mean"], data.target_stats["mean"])
