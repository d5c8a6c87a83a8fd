"""Demo profiles: the shipped ones load and make valid stage configs; bad profiles fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from dexego.demo import profile_names, stage_names
from dexego.demo.pipeline import PROFILE_RECORD, check_same_profile, fraction_episodes, stage_config
from dexego.demo.profile import Arm, DataPlan, EvalPlan, load_profile
from dexego.demo.report import findings
from dexego.errors import ConfigError


@pytest.mark.parametrize("name", ["micro", "quick", "full"])
def test_builtin_profiles_make_valid_stage_configs(name, tmp_path):
    loaded = load_profile(name)
    assert loaded.profile.name == name
    sources = [tmp_path / "data" / t for t in loaded.profile.data.human_tasks]
    pre = stage_config(loaded.pretrain, sources, tmp_path / "pre", "")
    fine = stage_config(loaded.finetune, sources[:1], tmp_path / "fine", str(tmp_path / "pre"))
    assert [Path(s.path) for s in pre.data.sources] == sources and pre.output_dir == str(tmp_path / "pre")
    assert fine.init_from == str(tmp_path / "pre")
    # the model is the same in both stages (fine-tuning loads the pretrained weights), at the data's image size
    assert pre.model == fine.model
    assert pre.model.tiny.image_size == loaded.profile.data.image_size
    assert list(pre.data.sample["image_size"]) == [loaded.profile.data.image_size] * 2


def test_profile_names_and_unknown_profile():
    assert {"micro", "quick", "full"} <= set(profile_names())
    with pytest.raises(ConfigError, match="unknown demo profile"):
        load_profile("no-such-profile")


def test_profile_overrides_and_unknown_keys():
    loaded = load_profile("micro", ["eval.rollouts=3"])
    assert loaded.profile.eval.rollouts == 3
    with pytest.raises(ConfigError, match="rolouts"):
        load_profile("micro", ["eval.rolouts=3"])


def test_profile_from_a_folder(tmp_path):
    builtin = Path(load_profile("micro").folder)
    for name in ("pretrain.toml", "finetune.toml"):
        (tmp_path / name).write_text((builtin / name).read_text())
    (tmp_path / "demo.toml").write_text(
        'name = "half"\n[data]\nhuman_tasks = ["Push-Box"]\nrobot_tasks = ["Push-Box"]\nrobot_episodes = 6\n'
        '[[arms]]\nname = "full"\n[[arms]]\nname = "half"\nrobot_fraction = 0.5\n[[arms]]\nname = "scratch"\npretrained = false\n'
    )
    loaded = load_profile(tmp_path)
    names = stage_names(loaded)
    assert "robot_data_50:Push-Box" in names and names.index("pretrain") < names.index("finetune:full")
    assert names[-1] == "report" and len(names) == len(set(names))
    (tmp_path / "pretrain.toml").unlink()
    with pytest.raises(Exception, match="pretrain"):
        load_profile(tmp_path)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Arm("a", robot_fraction=0.0),
        lambda: Arm("bad name"),
        lambda: DataPlan(human_episodes=1),
        lambda: DataPlan(robot_tasks=()),
        lambda: EvalPlan(splits=("validation",)),
        lambda: EvalPlan(rollouts=0),
    ],
)
def test_bad_profile_values_are_rejected(bad):
    with pytest.raises(ValueError):
        bad()


def test_duplicate_arm_names_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unique"):
        load_profile("micro", ["arms=[{name='x'},{name='x'}]"])


def test_fraction_episodes_keeps_at_least_two():
    assert fraction_episodes(10, 0.5) == 5
    assert fraction_episodes(5, 0.5) == 3
    assert fraction_episodes(3, 0.1) == 2


def _summary(sr_with, sr_without, loss_with=1.0, loss_without=2.0):
    def arm(name, pretrained, sr, loss):
        return {
            "name": name,
            "pretrained": pretrained,
            "robot_fraction": 1.0,
            "val_robot_loss_last": loss,
            "eval": {"seen": {"sr": sr, "psr": sr, "rollouts": 4}},
            "motion": {"wrist_cm": 3.0, "fingertip_cm": 2.0},
        }

    return {
        "tasks": {"robot": ["Push-Box"]},
        "arms": [arm("a", True, sr_with, loss_with), arm("b", False, sr_without, loss_without)],
    }


def test_findings_state_what_was_measured():
    zero = findings(_summary(0.0, 0.0))
    assert any("SR 0 for all" in line for line in zero)
    assert any("moves SR by 25 points" in line for line in zero)
    mixed = findings(_summary(0.5, 0.25, loss_with=3.0, loss_without=2.0))
    assert not any("SR 0 for all" in line for line in mixed)
    assert any("SR 50.0 % with human pretraining vs 25.0 % without" in line for line in mixed)
    assert any("higher with pretraining" in line for line in mixed)  # reported as measured, not spun


def test_a_run_folder_resumes_only_the_same_profile(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    check_same_profile(load_profile("micro"), out)
    assert (out / PROFILE_RECORD).is_file()
    (out / "results").mkdir()  # stages have run
    check_same_profile(load_profile("micro"), out)  # the same profile resumes
    with pytest.raises(
        ConfigError, match=r"another profile \(profile 'micro', not 'micro'; differs in: demo\.eval\.rollouts\)"
    ):
        check_same_profile(load_profile("micro", ["eval.rollouts=3"]), out)
    with pytest.raises(ConfigError, match="profile 'micro', not 'quick'"):
        check_same_profile(load_profile("quick"), out)
    # A folder filled before profiles were recorded is resumed as before.
    old = tmp_path / "old"
    (old / "results").mkdir(parents=True)
    check_same_profile(load_profile("quick"), old)
    assert not (old / PROFILE_RECORD).exists()
