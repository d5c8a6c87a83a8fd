"""Robot action spaces end to end: samples from robot joints, masked losses, a mixed human + robot stage, closed loop."""

import numpy as np
import pytest
import torch
from sim_robot_data import closed_loop, expert_rollouts, stage, tiny_model, write_human_dataset, write_robot_dataset

from dexego.actions import get_space
from dexego.actions.robot import register_robot_spaces
from dexego.data import SampleConfig
from dexego.data.loader import SampleSource
from dexego.errors import InputError
from dexego.retarget.robots import robot_action_config

pytestmark = pytest.mark.timeout(600)
PADDED = "ego48+robot:h1_inspire"
JOINTS = "robot:h1_inspire"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("robot_spaces")
    register_robot_spaces(robot_action_config("h1_inspire"))
    robot = write_robot_dataset(root / "robot", expert_rollouts(episodes=2, steps=60))
    human = write_human_dataset(root / "human", episodes=3)
    return root, robot, human


def _sample(path, space, anchor=20, horizon=8):
    source = SampleSource(
        path, SampleConfig(action_space=space, horizon=horizon, history=1, image_size=(32, 32)), None, "x"
    )
    return source, source.samples(0, [anchor])[0]


def test_robot_samples_carry_wrists_and_the_commanded_joints_by_name(data):
    from dexego.data.reader import Dataset

    _, robot, _ = data
    _, ego = _sample(robot, "ego48")
    _, padded = _sample(robot, PADDED)
    _, joints = _sample(robot, JOINTS)
    space, js = get_space(PADDED), get_space(JOINTS)
    assert padded["action_mask"].all() and joints["action_mask"].all()
    for h in range(2):  # the hand-space parts are ego48's, untouched
        block = slice(h * space.hand_dim, h * space.hand_dim + 24)
        np.testing.assert_allclose(padded["actions"][:, block], ego["actions"][:, h * 24 : (h + 1) * 24], atol=1e-6)
        np.testing.assert_allclose(
            joints["actions"][:, js.part_slice("wrist_pos", h)], ego["actions"][:, h * 24 : h * 24 + 3], atol=1e-6
        )
    # Joint targets at step h are the hand joints commanded at t + h - 1 (action.robot, by name); the state the joints at t.
    ds = Dataset(robot)
    columns = ds.episode_columns(0)
    names = ds.features["action.robot"]["names"]
    commanded = np.asarray(columns["action.robot"])[20:28][:, [names.index(n) for n in js.joint_names]]
    np.testing.assert_allclose(joints["actions"][:, js.joint_index()], commanded, atol=1e-6)
    state_names = ds.features["observation.robot.state"]["names"]
    now = np.asarray(columns["observation.robot.state"])[20, [state_names.index(n) for n in js.joint_names]]
    np.testing.assert_allclose(joints["state"][js.joint_index()], now, atol=1e-6)


def test_human_samples_carry_only_the_hand_space(data):
    _, _, human = data
    _, sample = _sample(human, PADDED)
    space = get_space(PADDED)
    assert sample["action_mask"].tolist() == space.carried(False).tolist()
    assert not sample["actions"][:, space.joint_index()].any() and not sample["state"][space.joint_index()].any()
    with pytest.raises(InputError, match="needs robot"):
        _sample(human, JOINTS)


def test_a_joint_the_dataset_lacks_is_named(data, tmp_path):
    from dexego.actions.robot import RobotActionConfig

    _, robot, _ = data
    register_robot_spaces(
        RobotActionConfig(
            name="h1_extra", left_joints=("left_thumb_yaw", "left_wrist_spin"), right_joints=("right_thumb_yaw",)
        )
    )
    with pytest.raises(InputError, match="left_wrist_spin"):
        _sample(robot, "robot:h1_extra")


def test_masked_dimensions_add_no_loss(data):
    from dexego.config import load_config
    from dexego.models import Policy, PolicyConfig

    model = tiny_model(PADDED)
    model["robot"] = dict(vars(robot_action_config("h1_inspire")))
    policy = Policy(load_config(PolicyConfig, model), None)
    _, _, human = data
    source, _ = _sample(human, PADDED)
    batch = [source.samples(0, [a])[0] for a in (10, 20)]
    collated = {
        k: np.stack([b[k] for b in batch]) if not isinstance(batch[0][k], str) else [b[k] for b in batch]
        for k in batch[0]
    }
    torch.manual_seed(0)
    loss = policy(collated)[0].detach()
    joints = get_space(PADDED).joint_index()
    collated["actions"][..., joints] = 7.0  # what a human sample does not carry cannot matter
    torch.manual_seed(0)
    assert float(policy(collated)[0].detach()) == pytest.approx(float(loss), rel=1e-6)
    collated["action_mask"][:] = True  # ...unless it is declared carried
    torch.manual_seed(0)
    assert float(policy(collated)[0].detach()) > float(loss) + 1.0


def test_a_mixed_human_and_robot_stage_trains_and_its_joint_policy_runs_in_the_simulator(data):
    from dexego.train.build import run_stage
    from dexego.train.config import load_stage_config

    root, robot, human = data
    sources = [{"path": str(human), "weight": 1.0}, {"path": str(robot), "weight": 1.0}]
    result = run_stage(load_stage_config(stage("mixed", root / "runs" / "mixed", sources, tiny_model(PADDED))))
    assert result.steps == 3 and np.isfinite(result.last_train_loss)
    run = closed_loop(root / "runs" / "mixed" / "final", steps=12)
    assert run["space"] == PADDED and run["queries"] == 3
    assert run["actions"].shape == (12, 30) and np.isfinite(run["actions"]).all()
    assert run["solves"] == 0  # the hands are commanded from the predicted joints, never retargeted


def test_human_samples_in_a_padded_space_are_mirrored_in_their_hand_part(data):
    from dexego.data.augment import FlipConfig, flip_actions, flip_sample, flip_targets

    _, robot, human = data
    config = SampleConfig(action_space=PADDED, horizon=8, history=1, image_size=(32, 32))
    plain = SampleSource(human, config, None, "x").samples(0, [20])[0]
    mirrored = SampleSource(human, config, None, "x", flip=FlipConfig(1.0, ("human",))).samples(0, [20])[0]
    _, ego = _sample(human, "ego48")
    expected = flip_actions(ego["actions"], "ego48")
    space = get_space(PADDED)
    for h in range(2):  # the hand part is mirrored exactly as an ego48 sample is
        block = slice(h * space.hand_dim, h * space.hand_dim + 24)
        np.testing.assert_allclose(mirrored["actions"][:, block], expected[:, h * 24 : (h + 1) * 24], atol=1e-6)
    assert not mirrored["actions"][:, space.joint_index()].any()  # the padding stays padding
    assert mirrored["action_mask"].tolist() == space.carried(False).tolist()
    back = flip_sample(mirrored, PADDED)
    for key in ("actions", "state", "action_mask", "action_valid", "images", "intrinsics"):
        np.testing.assert_array_equal(back[key], plain[key], err_msg=key)
    _, robot_sample = _sample(robot, PADDED)
    with pytest.raises(ValueError, match="carries robot joints"):
        flip_targets(robot_sample, PADDED)


def test_flip_in_a_padded_space_fits_the_statistics_on_the_mirrored_human_samples(data, tmp_path):
    from dexego.data.stats import feature_stats
    from dexego.data.targets import _finite_rows, _target_values
    from dexego.train.build import build_stage_data, sample_config
    from dexego.train.config import load_stage_config

    root, _, human = data
    flip = {"data": {"flip": {"probability": 1.0, "embodiments": ["human"]}}}
    raw = stage("flip", tmp_path / "run", [{"path": str(human), "weight": 1.0}], tiny_model(PADDED))
    raw["data"].update(flip["data"])
    config = load_stage_config(raw)
    stats = build_stage_data(config).action_stats
    source = SampleSource(human, sample_config(config), None, "x", flip=config.data.flip)
    drawn = [s for ep in source.episodes for s in source.samples(ep, list(source.anchors[ep]))]  # as training draws
    seen = feature_stats(_finite_rows(_target_values(drawn, get_space(PADDED), "absolute")))
    hand = get_space(PADDED).carried(False)
    for name in ("mean", "std", "min", "max"):
        np.testing.assert_allclose(stats[name][hand], seen[name][hand], rtol=1e-9, atol=1e-12, err_msg=name)
    unflipped = SampleSource(human, sample_config(config), None, "x")
    originals = [s for ep in unflipped.episodes for s in unflipped.samples(ep, list(unflipped.anchors[ep]))]
    before = feature_stats(_finite_rows(_target_values(originals, get_space(PADDED), "absolute")))
    assert not np.allclose(before["mean"][hand], stats["mean"][hand])


def test_flip_that_cannot_work_in_a_robot_space_fails_when_the_config_is_loaded(tmp_path):
    from dexego.errors import ConfigError
    from dexego.train.config import load_stage_config

    def config(space, embodiments=("human",), robot="h1_inspire"):
        raw = stage("flip", tmp_path / "run", [{"path": str(tmp_path), "weight": 1.0}], tiny_model(space, robot))
        raw["data"]["flip"] = {"probability": 0.5, "embodiments": list(embodiments)}
        return load_stage_config(raw)

    assert config(PADDED).data.flip.probability == 0.5  # human samples of a padded space: their hand part
    with pytest.raises(ConfigError, match=r"data\.flip: embodiments \['h1_inspire'\].*only human samples"):
        config(PADDED, ("human", "h1_inspire"))
    with pytest.raises(ConfigError, match=r"data\.flip: .*'robot:h1_inspire' has no part a human sample carries"):
        config(JOINTS)
    with pytest.raises(ConfigError, match=r"data\.flip: .*mano_pca"):
        config("mano", robot=None)
