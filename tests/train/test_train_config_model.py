"""The stage config's model is a typed PolicyConfig; data settings come from it or are checked against it."""

import dataclasses

import pytest

from dexego.errors import ConfigError
from dexego.models import PolicyConfig, TinyBackboneConfig
from dexego.models.config_registry import BACKBONE_CONFIGS, HEAD_CONFIGS, register_head_config
from dexego.models.registry import HEADS, backbone_class
from dexego.train import load_stage_config
from dexego.train.build import sample_config

MODEL = {"head": "flow", "horizon": 8, "n_obs_frames": 3, "tiny": {"image_size": 64}}


def test_model_is_typed_and_data_settings_derive_from_it():
    config = load_stage_config({"model": MODEL, "data": {"sample": {"history_spacing_s": 0.1}}})
    assert isinstance(config.model, PolicyConfig) and config.model.tiny == TinyBackboneConfig(image_size=64)
    assert config.data.representation == "ego48"  # from model.action_space
    samples = sample_config(config)
    assert (samples.history, samples.horizon, samples.action_space, samples.image_size) == (2, 8, "ego48", (64, 64))
    assert samples.history_spacing_s == 0.1  # the data's own options stay
    same = load_stage_config(
        {
            "model": MODEL,
            "data": {
                "representation": "ego48",
                "sample": {"horizon": 8, "image_size": [64, 64], "history_spacing_s": 0.1},
            },
        }
    )
    assert sample_config(same) == samples  # repeating the model's values is allowed


@pytest.mark.parametrize("data, message", [
    ({"sample": {"image_size": [96, 96]}}, r"data.sample.image_size = \[96, 96\] differs from model.tiny.image_size \(\[64, 64\]\)"),
    ({"sample": {"horizon": 30}}, r"data.sample.horizon = 30 differs from model.horizon \(8\)"),
    ({"sample": {"history": 5}}, r"data.sample.history = 5 differs from model.n_obs_frames - 1 \(2\)"),
    ({"representation": "kp21"}, r"data.representation 'kp21' differs from model.action_space 'ego48'"),
])  # fmt: skip
def test_data_settings_that_contradict_the_model_fail_on_load_naming_both(tmp_path, data, message):
    path = tmp_path / "stage.toml"
    path.write_text('[model]\nhead = "flow"\nhorizon = 8\nn_obs_frames = 3\ntiny = { image_size = 64 }\n')
    with pytest.raises(ConfigError, match=message) as caught:
        load_stage_config(path, [f"data.{k}={_toml(v)}" for k, v in _flat(data)])
    assert str(caught.value).startswith(str(path))


def test_an_hf_backbone_without_a_size_leaves_the_frame_size_to_the_data():
    config = load_stage_config(
        {"model": {"backbone": "hf", "hf": {"path": "/models/x"}}, "data": {"sample": {"image_size": [224, 224]}}}
    )
    assert config.model.image_size is None and sample_config(config).image_size == (224, 224)


def test_heads_and_backbones_are_registered_names():
    assert set(HEAD_CONFIGS) == set(HEADS) == {"regression", "flow", "tokens"}
    assert set(BACKBONE_CONFIGS) == {"tiny", "hf"} and all(backbone_class(name) for name in BACKBONE_CONFIGS)
    for name, cls in {**HEAD_CONFIGS, **BACKBONE_CONFIGS}.items():
        assert isinstance(getattr(PolicyConfig(), name), cls)  # every registered name has its table
    with pytest.raises(ConfigError, match="unknown head 'diffusion'; registered: .*flow.*regression.*tokens"):
        load_stage_config({"model": {"head": "diffusion"}})


def test_a_registered_head_needs_its_table_in_the_policy_config():
    @register_head_config("scratch-test-head")
    @dataclasses.dataclass(frozen=True)
    class ScratchHeadConfig:
        width: int = 8

    try:
        with pytest.raises(ValueError, match="'scratch-test-head' is registered .* no 'scratch-test-head' table"):
            PolicyConfig(head="scratch-test-head")
        with pytest.raises(ValueError, match="already registered"):
            register_head_config("flow")(ScratchHeadConfig)
    finally:
        HEAD_CONFIGS.pop("scratch-test-head")


def _flat(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _toml(value):
    return repr(value).replace("'", '"')
