"""Every corrupted copy of a small dataset through ``data info``, ``data validate`` and a 2-step ``train``.

Readers and validate share one rule book (dexego.data.checks): training refuses exactly what
validate rejects, naming the same file and field, and never starts on it; what validate only
warns about, training repairs and runs on. Exit codes: info 2 on any error (it runs validate's
checks and prints the first error); validate 1 when it found errors (0 with warnings); train 2.
No traceback anywhere.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from corruptions import CASES, VIDEO, write_base

from dexego.cli import main
from dexego.configs import config_path

CPU_PRETRAIN = config_path("cpu/pretrain")
INLINE = '[[data.sources]]\npath = "data/sim/human"\n'
TRAIN_SETTINGS = ["loop.max_steps=2", "loop.batch_size=2", "loop.log_every=1", "loop.val_every=0", "loop.checkpoint_every=0",
                  "loop.progress=false", "data.val_fraction=0.0"]  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return write_base(tmp_path_factory.mktemp("corrupt") / "base")


def _config(tmp_path: Path, dataset: Path) -> Path:
    config = tmp_path / "stage.toml"
    config.write_text(CPU_PRETRAIN.read_text().replace(INLINE, f'[[data.sources]]\npath = "{dataset}"\n'))
    return config


# what validate warns about in each repaired case (the case is built as its name says)
WARNINGS = {
    "stats_missing": "meta/stats.json: missing: readers aggregate",
    "stats_zero_std": "meta/stats.json: action: std 0 in dimension 0",
    "stats_without_bookkeeping_columns": "meta/stats.json: frame_index: no statistics for this feature (a bookkeeping column)",
    "splits_missing": "meta/info.json: splits: missing",
}


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out, argv
    return code, captured.out, captured.err


def _where(message: str) -> tuple[str, ...]:
    """(path, field) of 'path: field: problem' (or (path,) when there is no field)."""
    parts = message.split(": ")
    return tuple(parts[:2]) if len(parts) > 2 else tuple(parts[:1])


def _train(capsys, tmp_path: Path, dataset: Path) -> tuple[int, str, Path]:
    run = tmp_path / "run"
    code, _, err = _run(capsys, ["train", str(_config(tmp_path, dataset)), *[a for s in TRAIN_SETTINGS for a in ("--set", s)],
                                 "--set", f"output_dir={run}"])  # fmt: skip
    return code, err, run


@pytest.mark.parametrize("name, corrupt, kind", CASES, ids=[c[0] for c in CASES])
def test_corrupted_dataset(base, tmp_path, capsys, name, corrupt, kind):
    root = tmp_path / name
    shutil.copytree(base, root)
    corrupt(root)

    code, out, err = _run(capsys, ["data", "info", str(root)])
    info_err = err
    assert code == (0 if kind == "warn" else 2), (name, out, err)
    if code == 2:
        assert not out and err.startswith("dexego: error: ") and str(root) in err, (name, err)
        assert len(err.strip().splitlines()) == 1, (name, err)
    else:
        assert out.startswith(str(root)) and "episodes: 2" in out, (name, out)
    # without decoding, only a video whose packets are intact but whose frames are damaged passes
    code, _, err = _run(capsys, ["data", "info", "--no-decode", str(root)])
    assert code == (0 if kind == "warn" or name == "video_garbled" else 2), (name, err)

    code, out, err = _run(capsys, ["data", "validate", str(root)])
    errors = [line for line in out.splitlines() if line and not line.startswith("warning: ") and not line.endswith(": ok")
              and " ok (" not in line]  # fmt: skip
    if kind == "warn":
        assert code == 0 and not errors and WARNINGS[name] in out, (name, out)
    else:
        assert code == 1 and errors and all(str(root) in line for line in errors), (name, out)
        info_message = info_err.strip()[len("dexego: error: ") :]
        if kind == "values":  # info's one line is one of validate's (the same rule, the same words)
            assert info_message in errors, (name, info_message, errors)
        else:  # a dataset's opening check (v2.1 accepted too): the same file and field
            assert _where(info_message) in {_where(line) for line in errors}, (name, info_message, errors)

    code, err, run = _train(capsys, tmp_path, root)
    if kind == "warn":
        assert code == 0, (name, err)
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert records and all(np.isfinite(r["loss"]) and r["loss"] < 1e3 for r in records if "loss" in r)
        return
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dexego: error: "), (name, err)
    message = lines[0][len("dexego: error: ") :]
    # the same file and field as a problem validate printed (and most often the very same line)
    wheres = {_where(line) for line in errors}
    assert _where(message) in wheres or any(w[0].startswith(_where(message)[0] + "/") for w in wheres), (
        name,
        message,
        errors,
    )
    assert not (run / "final").exists() and not (run / "checkpoints").exists()


def test_a_changed_video_is_never_served_from_the_frame_cache(base, tmp_path, capsys):
    root = tmp_path / "cached"
    shutil.copytree(base, root)
    code, err, run = _train(capsys, tmp_path, root)
    assert code == 0, err
    assert list((root / ".cache").rglob("*.npy"))  # the decoded frames were cached
    path = root / VIDEO
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated after the cache was built
    shutil.rmtree(run)
    code, err, _ = _train(capsys, tmp_path, root)
    assert code == 2 and f"{path}: " in err, err
