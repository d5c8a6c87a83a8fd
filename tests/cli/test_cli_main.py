import subprocess
import sys

import pytest

from dexego import __version__
from dexego.cli import GROUPS, main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for group in GROUPS:
        assert group in out


def test_every_group_has_help(capsys):
    for group in GROUPS:
        with pytest.raises(SystemExit) as exit_info:
            main([group, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.strip()


def test_unknown_command_fails():
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2


def test_console_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "dexego", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"dexego {__version__}"


def test_every_command_has_a_purpose_defaults_and_a_parsing_example():
    """Walk the whole command tree: each --help has a one-line purpose, shows its defaults and ends with an example
    that the parser accepts."""
    import argparse
    import shlex

    from dexego.cli import build_parser, subcommand_paths

    commands = subcommand_paths()
    assert {"", "sim demos", "sim eval", "train", "eval scaling", "config show", "config list"} <= set(commands)
    for path, parser in commands.items():
        text = parser.format_help()
        assert parser.description and parser.description.strip(), f"dexego {path}: no description"
        assert "\nexample:\n  dexego" in text, f"dexego {path}: no example"
        example = text.rsplit("example:\n", 1)[1].strip()
        words = shlex.split(example.split(">")[0])
        assert words[0] == "dexego" and " ".join(words[1:]).startswith(path), example
        build_parser().parse_args(words[1:])  # the example is a valid command line (SystemExit would fail here)
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"dexego {path}: {action.option_strings or action.dest} has no help"
            shows_default = action.required or action.default in (None, False, [], ()) or not action.option_strings
            assert shows_default or "default" in parser._get_formatter()._get_help_string(action).lower(), (
                path,
                action.dest,
            )
    demos = commands["sim demos"].format_help()
    assert "(default: 100)" in demos and "(default: 224)" in demos  # the hidden defaults the issue named


def test_closed_pipe_exits_quietly():
    """`dexego ... | head`: the reader goes away; no BrokenPipeError traceback, exit status 141."""
    process = subprocess.Popen([sys.executable, "-m", "dexego", "config", "show", "pretrain"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    process.stdout.close()  # before the command writes anything
    err = process.stderr.read().decode()
    process.wait(timeout=60)
    assert process.returncode == 141 and err == ""


def test_progress_is_plain_lines_without_a_terminal(capsys):
    from dexego.utils.progress import PlainProgress, ProgressCallback, progress_bar

    bar = progress_bar(20, "sim eval", "rollouts")  # pytest's stderr is no terminal
    assert isinstance(bar, PlainProgress)
    callback = ProgressCallback("sim eval", "rollouts")
    for done in range(1, 21):
        callback(done, 20)
    err = capsys.readouterr().err
    assert (
        "\r" not in err
        and err.splitlines()[0] == "sim eval: 2/20 rollouts"
        and err.splitlines()[-1] == "sim eval: 20/20 rollouts"
    )
    assert len(err.splitlines()) == 10  # one line per tenth, none repeated at the end


def test_builtin_configs_list_show_and_train_by_name(tmp_path, capsys, monkeypatch):
    import tomllib

    from dexego.configs import config_names, config_path

    assert main(["config", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == config_names() and {"cpu/pretrain", "pretrain", "mixtures/egovla_human", "demo/quick/demo"} <= set(
        listed
    )
    assert main(["config", "show", "cpu/pretrain"]) == 0
    shown = capsys.readouterr().out
    assert (
        shown == config_path("cpu/pretrain").read_text() and tomllib.loads(shown)["output_dir"] == "runs/cpu/pretrain"
    )
    assert main(["config", "show", "cpu/nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'cpu/nope' is neither a file nor a built-in config" in err[0] and "cpu/pretrain" in err[0]
    # a built-in name trains like a file in the working directory: its dataset paths are relative to it
    monkeypatch.chdir(tmp_path)
    assert main(["train", "cpu/pretrain", "--check"]) == 2
    assert "data/sim/human: data.sources[0].path: dataset not found" in capsys.readouterr().err
    (tmp_path / "my.toml").write_text(shown.replace("runs/cpu/pretrain", "runs/mine"))
    from dexego.train import load_stage_config

    assert load_stage_config("my.toml").output_dir == "runs/mine"  # a file of that name wins over nothing
    assert load_stage_config("cpu/pretrain.toml").output_dir == "runs/cpu/pretrain"
