import json

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from dexego.evaluate.loss_success import RunOutcome, TooFewRuns, correlation, loss_success, plot_loss_success


def _runs(slope, noise, count=8, seed=0, rollouts=40):
    rng = np.random.default_rng(seed)
    loss = np.linspace(1.0, 2.0, count)
    rate = np.clip(0.9 + slope * (loss - 1.0) + rng.normal(scale=noise, size=count), 0, 1)
    return [RunOutcome(f"run{i}", float(v), int(round(p * rollouts)), rollouts, robot_loss=float(v) / 2, amount=2.0**i)
            for i, (v, p) in enumerate(zip(loss, rate))]  # fmt: skip


def test_correlations_match_scipy_and_a_strong_law_excludes_zero():
    runs = _runs(slope=-0.6, noise=0.03)
    result = loss_success(runs, resamples=500)
    x, y = [r.pretrain_loss for r in runs], [r.success_rate for r in runs]
    assert result["pretrain_loss"]["pearson"]["r"] == pytest.approx(pearsonr(x, y).statistic)
    assert result["pretrain_loss"]["spearman"]["r"] == pytest.approx(spearmanr(x, y).statistic)
    for method in ("pearson", "spearman"):
        low, high = result["pretrain_loss"][method]["interval"]
        assert (
            low <= result["pretrain_loss"][method]["r"] <= high < 0
            and not result["pretrain_loss"][method]["includes_zero"]
        )
    assert (
        "lower pretraining validation loss (human) goes with higher success over these 8 runs"
        in result["statements"][0]
    )
    assert result["robot_loss"]["pearson"]["r"] == pytest.approx(
        result["pretrain_loss"]["pearson"]["r"]
    )  # robot loss = loss / 2
    assert json.loads(json.dumps(result))["runs"][0]["success_rate"] == runs[0].success_rate


def test_no_relation_says_the_interval_includes_zero():
    rng = np.random.default_rng(3)
    runs = [RunOutcome(f"r{i}", float(rng.uniform(1, 2)), int(rng.integers(0, 21)), 20) for i in range(8)]
    result = loss_success(runs, resamples=500)
    assert result["pretrain_loss"]["pearson"]["includes_zero"]
    assert (
        "an interval includes 0: these 8 runs do not show that the pretraining validation loss (human) predicts success"
        in result["statements"][0]
    )
    assert (
        result["robot_loss"] is None
        and "not computed: a correlation needs at least 3 runs, got 0" in result["statements"][1]
    )


def test_degenerate_inputs_are_named():
    with pytest.raises(TooFewRuns, match="same success rate"):
        correlation([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    with pytest.raises(TooFewRuns, match="at least 3 runs"):
        correlation([1.0, 2.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="successes <= rollouts"):
        RunOutcome("x", 1.0, 5, 4)
    with pytest.raises(ValueError, match="pretrain_loss must be finite"):
        RunOutcome("x", float("nan"), 1, 4)
    all_zero = [RunOutcome(f"r{i}", 1.0 + i, 0, 10) for i in range(4)]
    assert "every run has the same success rate" in loss_success(all_zero, resamples=50)["statements"][0]


def test_interval_covers_the_true_correlation_in_most_synthetic_experiments():
    covered = 0
    for seed in range(10):  # success rate = 0.9 - 0.6 (loss - 1) + noise: the population Pearson r is strongly negative
        runs = _runs(slope=-0.6, noise=0.1, count=10, seed=seed, rollouts=1000)
        result = correlation([r.pretrain_loss for r in runs], [r.success_rate for r in runs], resamples=300, seed=seed)
        true_r = -0.6 * np.std(np.linspace(1, 2, 10)) / np.sqrt(0.36 * np.var(np.linspace(1, 2, 10)) + 0.01)
        covered += result["pearson"]["interval"][0] <= true_r <= result["pearson"]["interval"][1]
    assert covered >= 7


def test_plot_has_a_panel_per_loss_with_wilson_bars():
    runs = _runs(slope=-0.6, noise=0.03)
    fig = plot_loss_success(runs, loss_success(runs, resamples=50))
    panels = [ax for ax in fig.axes if ax.get_ylabel() == "success rate (%)"]
    assert len(panels) == 2 and "Pearson" in panels[0].get_title()
    only_pretrain = [RunOutcome(r.label, r.pretrain_loss, r.successes, r.rollouts) for r in runs]
    assert len([ax for ax in plot_loss_success(only_pretrain).axes if ax.get_ylabel()]) == 1
