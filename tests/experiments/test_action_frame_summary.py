"""experiments/action_frame/run.py: averaging one frame's runs over training seeds, the step from which a policy
stays below holding still, and the frame with the lower error, on hand-written motion metrics with known values."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments"))
_spec = importlib.util.spec_from_file_location("action_frame_run", ROOT / "experiments" / "action_frame" / "run.py")
assert _spec is not None and _spec.loader is not None
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)


def _motion(wrist: list[float], fingertip: list[float], samples: int = 10) -> dict:
    part = {
        "per_step": {"wrist_cm": wrist, "fingertip_cm": fingertip},
        "overall": {"wrist_cm": sum(wrist) / len(wrist), "fingertip_cm": sum(fingertip) / len(fingertip),
                    "samples": samples},
    }  # fmt: skip
    return {"human": part, "robot": part}


def _run(frame: str, seed: int, wrist: list[float]) -> dict:
    return {
        "policy": f"{frame} targets",
        "frame": frame,
        "seed": seed,
        "motion": _motion(wrist, [2 * w for w in wrist]),
    }


def test_mean_over_seeds_averages_every_step_and_gives_the_sd_of_the_chunk():
    row = run.mean_over_seeds([_run("relative", 0, [1.0, 3.0]), _run("relative", 1, [3.0, 5.0])])
    human = row["motion"]["human"]
    assert row["seeds"] == [0, 1] and row["frame"] == "relative"
    assert human["per_step"]["wrist_cm"] == [2.0, 4.0]
    assert human["per_step"]["fingertip_cm"] == [4.0, 8.0]
    assert human["overall"]["wrist_cm"] == 3.0  # chunk means 2 and 4
    assert human["overall"]["wrist_cm_sd"] == pytest.approx(2**0.5)  # sample sd of (2, 4)
    assert human["overall"]["samples"] == 10


def test_one_seed_has_zero_sd_and_a_missing_step_stays_missing():
    first = _run("absolute", 0, [1.0, 2.0])
    first["motion"]["human"]["per_step"]["wrist_cm"] = [None, 2.0]
    row = run.mean_over_seeds([first])
    assert row["motion"]["human"]["per_step"]["wrist_cm"] == [None, 2.0]
    assert row["motion"]["robot"]["overall"]["wrist_cm_sd"] == 0.0


def test_runs_of_two_frames_are_refused():
    with pytest.raises(ValueError, match="one frame"):
        run.mean_over_seeds([_run("relative", 0, [1.0]), _run("absolute", 0, [1.0])])
    with pytest.raises(ValueError, match="one frame"):
        run.mean_over_seeds([])


def test_first_better_step_and_better_frame():
    hold = {"frame": None, "motion": _motion([0.5, 2.0, 4.0, 6.0], [0.5, 2.0, 4.0, 6.0])}
    relative = _run("relative", 0, [1.0, 1.5, 3.0, 4.0])  # below holding still from step 2 to the end
    absolute = _run("absolute", 0, [5.0, 5.0, 5.0, 5.0])  # crosses at step 4 only
    never = _run("absolute", 1, [9.0, 9.0, 9.0, 9.0])
    assert run.first_better_step(relative, hold, "human") == "2"
    assert run.first_better_step(absolute, hold, "robot") == "4"
    assert run.first_better_step(never, hold, "human") == "never"
    assert run.better([relative, absolute, hold]) == "relative"
