import json
import math

import numpy as np
import pytest

from dexego.errors import InputError
from dexego.evaluate.scaling import fit_log_linear, load_points, plot_scaling, scaling_result


def test_fit_recovers_a_known_law_from_noisy_points():
    rng = np.random.default_rng(0)
    hours = np.logspace(0, 4, 12)  # 1 h .. 10,000 h
    loss = 1.8 - 0.21 * np.log10(hours) + rng.normal(scale=0.005, size=hours.size)
    fit = fit_log_linear(hours, loss, "hours")
    assert fit.intercept == pytest.approx(1.8, abs=0.01)
    assert fit.slope == pytest.approx(-0.21, abs=0.005)
    assert 0.998 < fit.r2 <= 1.0
    # The standard errors match the noise: the truth lies within 4 standard errors.
    assert abs(fit.slope + 0.21) < 4 * fit.slope_se and abs(fit.intercept - 1.8) < 4 * fit.intercept_se
    assert fit.predict(1e5) == pytest.approx(1.8 - 0.21 * 5, abs=0.03)
    assert fit.amount_for_loss(fit.predict(300.0)) == pytest.approx(300.0)


def test_exact_law_gives_r2_one_and_exact_parameters():
    amounts = [10, 100, 1000]
    fit = fit_log_linear(amounts, [2.0 - 0.5 * math.log10(x) for x in amounts])
    assert (fit.intercept, fit.slope) == (pytest.approx(2.0), pytest.approx(-0.5))
    assert fit.r2 == pytest.approx(1.0)
    assert fit.predict(np.array([1.0, 1e4])) == pytest.approx([2.0, 0.0])


@pytest.mark.parametrize(
    "amounts, losses, message",
    [([1, 0], [1, 2], "positive"), ([5, 5], [1, 2], "two different"), ([1, 2], [1, float("nan")], "finite"), ([1], [1], "two different")],
)
def test_bad_fits_are_rejected(amounts, losses, message):
    with pytest.raises(ValueError, match=message):
        fit_log_linear(amounts, losses)


def test_points_from_json_csv_and_run_directories(tmp_path):
    (tmp_path / "many.json").write_text(json.dumps({"unit": "hours", "points": [{"amount": 1, "loss": 1.0}, {"amount": 10, "val_loss": 0.8}]}))
    (tmp_path / "one.json").write_text(json.dumps({"data_hours": 100, "loss": 0.6, "label": "big"}))
    (tmp_path / "pts.csv").write_text("data_hours,val_loss\n1000,0.41\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [{"step": 0, "split": "meta", "data_hours": 10000},
                                           {"step": 10, "split": "val", "loss": 0.3}, {"step": 20, "split": "val", "loss": 0.25},
                                           {"step": 20, "split": "train", "loss": 0.1}]) + "\n"
    )
    points = load_points([tmp_path / "many.json", tmp_path / "one.json", tmp_path / "pts.csv", run])
    assert [(p.amount, p.loss) for p in points] == [(1, 1.0), (10, 0.8), (100, 0.6), (1000, 0.41), (10000, 0.25)]
    assert {p.unit for p in points} == {"hours"} and points[2].label == "big" and points[4].label == "run"
    fit = fit_log_linear([p.amount for p in points], [p.loss for p in points], "hours")
    result = scaling_result(points, fit, [1e5])
    assert result["predictions"][0]["loss"] == pytest.approx(fit.intercept + 5 * fit.slope)
    fig = plot_scaling(points, fit, [1e5])
    assert len(fig.axes) == 1 and fig.axes[0].get_xscale() == "log"


def test_bad_point_files_name_file_and_field(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"points": [{"amount": -3, "loss": 1.0}]}))
    with pytest.raises(InputError, match=r"p.json: points\[0\].amount"):
        load_points([path])
    path.write_text(json.dumps({"amount": 3}))
    with pytest.raises(InputError, match="p.json: loss"):
        load_points([path])
    (tmp_path / "a.json").write_text(json.dumps({"data_hours": 1, "loss": 1}))
    (tmp_path / "b.json").write_text(json.dumps({"data_episodes": 5, "loss": 1}))
    with pytest.raises(InputError, match="mix data units"):
        load_points([tmp_path / "a.json", tmp_path / "b.json"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "split": "val", "loss": 0.3}) + "\n")
    with pytest.raises(InputError, match="data amount"):
        load_points([run])


def test_run_directories_use_the_validation_split_the_trainer_writes(tmp_path):
    records = [{"step": 5, "split": "val_robot", "loss": 0.1}, {"step": 5, "split": "val_human", "loss": 0.7, "data_episodes": 20},
               {"step": 9, "split": "val_human", "loss": 0.6}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (point,) = load_points([tmp_path])
    assert (point.amount, point.loss, point.unit) == (20.0, 0.6, "episodes")
    (point,) = load_points([tmp_path / "metrics.jsonl"], split="val_robot")
    assert point.loss == 0.1
    with pytest.raises(InputError, match="no validation loss"):
        load_points([tmp_path], split="val")
