"""Bad CLI arguments and configs: one line naming the file or option, exit 2, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from dexego.cli import main
from dexego.configs import config_path

CPU_PRETRAIN = config_path("cpu/pretrain")


def _binary(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe")
    return path


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("x")
    return path


CASES = [
    ("binary config", lambda t: ["train", str(_binary(t))], "not a text config file"),
    ("negative max_steps", lambda t: ["train", str(CPU_PRETRAIN), "--set", "loop.max_steps=-5"], "max_steps"),
    ("check with lr=inf", lambda t: ["train", str(CPU_PRETRAIN), "--check", "--set", "optimizer.lr=inf"], "lr"),
    (
        "check with image_size 0x0",
        lambda t: ["train", str(CPU_PRETRAIN), "--check", "--set", "data.sample.image_size=[0, 0]"],
        "image_size",
    ),
    ("seed 2**70", lambda t: ["train", str(CPU_PRETRAIN), "--set", f"seed={2**70}"], "seed"),
    ("output_dir is a file", lambda t: ["train", str(CPU_PRETRAIN), "--set", f"output_dir={_file(t)}"], "output_dir"),
    (
        "sim demos --seed -1",
        lambda t: ["sim", "demos", "--task", "pick_cube", "--out", str(t / "d"), "--seed", "-1"],
        "seed must be in",
    ),
    ("sim demos --out a file", lambda t: ["sim", "demos", "--task", "pick_cube", "--out", str(_file(t))], "out"),
    (
        "server address without a port number",
        lambda t: ["sim", "eval", "--policy", "ws://host:notaport", "--out", str(t / "r.json")],
        "port",
    ),
    ("serve --max-message-mb nan", lambda t: ["serve", str(t), "--max-message-mb", "nan"], "--max-message-mb"),
    (
        "annotate a folder that does not exist",
        lambda t: ["annotate", str(t / "does/not/exist"), str(t / "out")],
        "VIDEO_DIR",
    ),
    (
        "validate a folder that does not exist",
        lambda t: ["data", "validate", str(t / "nowhere")],
        "not a dataset folder",
    ),
    ("info of a folder without a dataset", lambda t: ["data", "info", str(t)], "meta/info.json"),
]


@pytest.mark.parametrize("name, argv, mentions", CASES, ids=[c[0] for c in CASES])
def test_bad_arguments_exit_2_with_one_line(tmp_path, monkeypatch, capsys, name, argv, mentions):
    monkeypatch.chdir(tmp_path)
    args = argv(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code = main(args)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (name, captured.err)
    assert len(lines) == 1 and lines[0].startswith("dexego: error: ") and mentions in lines[0], (name, captured.err)
    assert "Traceback" not in captured.err
    assert "runs" not in {p.name for p in tmp_path.iterdir()} and sorted(p.name for p in tmp_path.rglob("*")) == before


def test_tokenizer_horizon_longer_than_every_episode_is_refused(tmp_path, capsys):
    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode

    with DatasetWriter(tmp_path / "ds") as writer:
        writer.add_episode(synthetic_episode(40, video=False))
    code = main(
        [
            "tokenizer",
            "fit",
            str(tmp_path / "ds"),
            "--kind",
            "fast",
            "--out",
            str(tmp_path / "tok"),
            "--horizon",
            "10000",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "horizon 10000 is longer than the longest episode (40 frames)" in err
    assert not (tmp_path / "tok").exists()


def test_leftovers_of_a_killed_final_export_are_removed(tmp_path):
    from dexego.train import checkpoints as ckpt

    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)
    (run / ".tmp-final-999999").mkdir()  # killed while filling the new final/
    (run / "checkpoints" / ".tmp-step-00000004-999999").mkdir(parents=True)
    removed = ckpt.remove_leftovers(run)
    assert len(removed) == 2 and sorted(p.name for p in run.iterdir()) == ["checkpoints", "final"]
    assert not list((run / "checkpoints").iterdir())
    # killed between swapping the old final/ out and the new one in: the old one comes back
    (run / "final").rename(run / ".tmp-old-final-999999")
    (run / ".tmp-final-999999").mkdir()
    ckpt.remove_leftovers(run)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "final"]
