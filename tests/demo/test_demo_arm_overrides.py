"""Arms that differ in their fine-tuning stage config (finetune_overrides) and robot-only profiles without human data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dexego.demo import stage_names
from dexego.demo.pipeline import PROFILE_RECORD, arm_template, check_profile, check_same_profile, stage_config
from dexego.demo.profile import Arm, DataPlan, DemoProfile, LoadedProfile, load_profile
from dexego.errors import ConfigError
from dexego.train.build import policy_config

HEADS_PROFILE = Path(__file__).resolve().parents[2] / "experiments" / "action_heads" / "profile"


def test_arm_overrides_change_only_that_arm_s_stage_config(tmp_path):
    loaded = load_profile("micro")
    template = arm_template(loaded.finetune, ["model.head=flow", "optimizer.lr=0.001"])
    config = stage_config(template, [tmp_path / "d"], tmp_path / "run", "")
    assert config.model.head == "flow" and config.optimizer.lr == pytest.approx(0.001)
    assert loaded.finetune["model"]["head"] == "regression"  # the profile's template is not changed
    plain = stage_config(arm_template(loaded.finetune), [tmp_path / "d"], tmp_path / "run", "")
    assert plain.model.head == "regression"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"finetune_overrides": ("model.head",)}, "key=value"),
        ({"finetune_overrides": ("=flow",)}, "key=value"),
        ({"finetune_overrides": ("loop.max_steps=5",)}, "finetune_steps"),
        ({"finetune_overrides": ("seed=3",)}, "cannot set seed"),
        ({"finetune_overrides": ("model.head=flow",), "finetune": False}, "finetune = true"),
    ],
)
def test_bad_arm_overrides_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Arm("a", **kwargs)


def test_an_override_the_stage_config_refuses_fails_before_anything_runs(tmp_path):
    loaded = load_profile("micro")
    arms = (Arm("good", pretrained=False), Arm("bad", pretrained=False, finetune_overrides=("model.head=nope",)))
    bad = LoadedProfile(DemoProfile(arms=arms), loaded.folder, loaded.pretrain, loaded.finetune)
    with pytest.raises(ConfigError, match=r"arm 'bad': finetune_overrides \['model.head=nope'\]"):
        check_profile(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_robot_only_profiles_need_no_human_data_but_pretrained_arms_do():
    robot_only = DemoProfile(data=DataPlan(human_tasks=()), arms=(Arm("a", pretrained=False),))
    assert robot_only.data.human_tasks == ()
    with pytest.raises(ValueError, match="human_tasks must not be empty"):
        DemoProfile(data=DataPlan(human_tasks=()), arms=(Arm("a", pretrained=True),))
    with pytest.raises(ValueError, match="robot_tasks"):
        DataPlan(robot_tasks=())


def test_profiles_without_overrides_record_what_they_recorded_before(tmp_path):
    """A run folder started before arms had overrides resumes: the field is recorded only when set."""
    out = tmp_path / "run"
    out.mkdir()
    check_same_profile(load_profile("quick"), out)
    record = json.loads((out / PROFILE_RECORD).read_text())
    assert all("finetune_overrides" not in arm for arm in record["demo"]["arms"])
    (out / "results").mkdir()
    check_same_profile(load_profile("quick"), out)
    with pytest.raises(ConfigError, match="demo.arms"):
        check_same_profile(load_profile("quick", ["arms=[{name='a', finetune_overrides=['model.head=flow']}]"]), out)


def test_the_action_heads_profile_trains_one_head_per_arm_on_robot_data_only(tmp_path):
    loaded = load_profile(HEADS_PROFILE)
    p = loaded.profile
    assert p.data.human_tasks == () and not loaded.needs_pretraining
    names = stage_names(loaded)
    assert not any(n.startswith("human") or n.startswith("pretrain") for n in names)
    assert [n for n in names if n.startswith("finetune:")] == [f"finetune:{a.name}" for a in p.arms]
    heads = {}
    for arm in p.arms:
        overrides = [o.replace("{tokenizers}", str(tmp_path)) for o in arm.finetune_overrides]
        model = policy_config(stage_config(arm_template(loaded.finetune, overrides), [tmp_path], tmp_path / "r", ""))
        heads[arm.name] = (model.head, bool(model.tokens.dynamics_dir), model.tokens.reasoning)
        assert model.action_frame == "relative" and model.backbone == "tiny"
    assert heads == {
        "regression": ("regression", False, False),
        "flow": ("flow", False, False),
        "tokens": ("tokens", False, False),
        "tokens_dynamics": ("tokens", True, False),
        "tokens_dynamics_plan": ("tokens", True, True),
    }
