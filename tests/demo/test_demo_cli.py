"""`dexego demo` command line: one command (not a group), its options, and clear errors."""

from __future__ import annotations

import pytest

from dexego.cli import build_parser, main


def test_demo_is_a_single_command_with_its_options():
    args = build_parser().parse_args(["demo", "--quick", "--out", "somewhere", "--workers", "2"])
    assert args.quick and args.out == "somewhere" and args.workers == 2 and args.threads == 1
    assert callable(args.handler)
    args = build_parser().parse_args(["demo"])
    assert not args.quick and args.profile is None and args.out == "dexego-demo"


def test_quick_and_profile_are_exclusive():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--quick", "--profile", "micro"])


def test_bad_options_fail_with_a_message(capsys, tmp_path):
    assert main(["demo", "--profile", "micro", "--workers", "0", "--out", str(tmp_path)]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["demo", "--profile", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown demo profile" in capsys.readouterr().err
    assert main(["demo", "--profile", "micro", "--set", "eval.rolouts=2", "--out", str(tmp_path)]) == 2
    assert "rolouts" in capsys.readouterr().err
    assert not (tmp_path / "stages").exists()  # nothing ran


def test_bad_task_or_stage_config_fails_before_any_work(capsys, tmp_path):
    out = tmp_path / "out"
    assert main(["demo", "--profile", "micro", "--set", "data.robot_tasks=['Stack-Can-Left']", "--out", str(out)]) == 2
    assert "Stack-Can-Left" in capsys.readouterr().err  # a human-only task: no robot demonstrations of it
    assert not (out / "stages").exists()
