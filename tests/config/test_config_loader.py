from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from dexego.config import load_config, to_dict
from dexego.errors import ConfigError


@dataclass(frozen=True)
class Optim:
    lr: float = 1e-4
    schedule: Literal["cosine", "constant"] = "cosine"


@dataclass(frozen=True)
class Stage:
    name: str = "pretrain"
    epochs: int = 20
    datasets: tuple[str, ...] = ()
    weights: dict[str, float] = field(default_factory=dict)
    init_from: Path | None = None
    optim: Optim = field(default_factory=Optim)


def test_defaults_file_and_overrides(tmp_path):
    path = tmp_path / "stage.toml"
    path.write_text(
        'name = "finetune"\ndatasets = ["a", "b"]\n[optim]\nlr = 2e-5\nschedule = "constant"\n[weights]\na = 1\n'
    )
    cfg = load_config(Stage, path, ["epochs=115", "optim.lr=3e-5", "init_from=runs/pre"])
    assert cfg == Stage("finetune", 115, ("a", "b"), {"a": 1.0}, Path("runs/pre"), Optim(3e-5, "constant"))
    assert load_config(Stage) == Stage()
    assert to_dict(cfg)["init_from"] == "runs/pre" and to_dict(cfg)["datasets"] == ["a", "b"]


def test_unknown_keys_list_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) epoch; valid keys: datasets, epochs"):
        load_config(Stage, {"epoch": 3})
    with pytest.raises(ConfigError, match=r"optim\.betas.*valid keys under optim: lr, schedule"):
        load_config(Stage, {"optim": {"betas": [0.9, 0.99]}})


def test_type_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="epochs: expected int"):
        load_config(Stage, {"epochs": "many"})
    with pytest.raises(ConfigError, match="epochs: expected int"):
        load_config(Stage, {"epochs": True})
    with pytest.raises(ConfigError, match="optim.schedule: 'step' is not one of"):
        load_config(Stage, None, ["optim.schedule=step"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(Stage, None, ["epochs"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(Stage, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(ConfigError, match="bad.toml: cannot parse"):
        load_config(Stage, bad)


def test_errors_name_the_origin_and_the_prefix_of_a_sub_table():
    with pytest.raises(ConfigError, match=r"^stage\.toml: optim\.schedule: 'linear' is not one of"):
        load_config(Optim, {"schedule": "linear"}, origin="stage.toml", prefix="optim")
    with pytest.raises(
        ConfigError, match=r"^stage\.toml: unknown key\(s\) optim\.lrr; valid keys under optim: lr, schedule"
    ):
        load_config(Optim, {"lrr": 1.0}, origin="stage.toml", prefix="optim.")
    with pytest.raises(ConfigError, match=r"^overrides: epochs: expected int"):  # no source: the overrides are at fault
        load_config(Stage, None, ["epochs=1.5"])
    with pytest.raises(ConfigError, match=r"^<dict>: epochs: expected int"):
        load_config(Stage, {"epochs": "x"})
