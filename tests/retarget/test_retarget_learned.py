import pytest
import torch

from dexego.errors import InputError
from dexego.retarget import HandRetargetConfig, HandRetargeter
from dexego.retarget.learned import LearnedRetargeter, LearnedRetargeterConfig, sample_hand, train_learned_retargeter
from dexego.retarget.robots import load_robot


@pytest.fixture(scope="module")
def trained():
    hand = load_robot("inspire_hand_right").hands["right"]
    torch.manual_seed(0)
    model, metrics = train_learned_retargeter(
        hand, LearnedRetargeterConfig(samples=20_000, steps=300, batch_size=512, learning_rate=3e-3)
    )
    return hand, model, metrics


def test_mlp_has_the_egovla_layout_and_learns_the_inverse(trained):
    hand, model, metrics = trained
    linear = [m for m in model.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(15, 64), (64, 128), (128, 64), (64, 6)]
    # A constant guess (mid-range joints) is centimetres off; the trained MLP must do far better.
    _, tips = sample_hand(hand, 2000, torch.Generator().manual_seed(9))
    constant = (hand.fingertips(hand.joint_map.middle().expand(2000, 6)) - tips).norm(dim=-1).mean()
    assert metrics["fingertip_error_mean_m"] < 0.25 * float(constant)
    assert metrics["fingertip_error_mean_m"] < 0.01
    pred = model(tips)
    assert ((pred >= hand.lower - 1e-6) & (pred <= hand.upper + 1e-6)).all()


def test_save_load_round_trip_and_bad_files(trained, tmp_path):
    hand, model, _ = trained
    path = tmp_path / "retargeter.safetensors"
    model.save(path)
    loaded = LearnedRetargeter.load(path)
    assert loaded.joint_names == hand.joint_names and loaded.hand_name == hand.name
    tips = hand.fingertips(hand.joint_map.middle()[None])
    torch.testing.assert_close(loaded(tips), model(tips))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata={"dexego": '{"hidden": [8]}'}
    )
    with pytest.raises(InputError, match=r"metadata\.dexego\.joint_names: missing"):
        LearnedRetargeter.load(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="not a dexego learned retargeter"):
        LearnedRetargeter.load(path)
    with pytest.raises(InputError, match="not found"):
        LearnedRetargeter.load(tmp_path / "missing.safetensors")


def test_mlp_starts_the_optimiser(trained):
    hand, model, _ = trained
    q, _ = sample_hand(hand, 300, torch.Generator().manual_seed(4))
    targets = hand.keypoints21(q)[:, None]
    config = HandRetargetConfig(smoothness=0.0, grid_candidates=0, iterations=8)
    result = HandRetargeter(hand, config, initializer=model).retarget(targets)
    assert float(result.fingertip_error.quantile(0.95)) < 1e-3
