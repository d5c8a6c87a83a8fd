import json

import numpy as np
import pytest

from dexego.errors import InputError
from dexego.tokenizers import FASTTokenizer, RVQTokenizer, fit_tokenizer, load_tokenizer, round_trip_report


def low_rank_chunks(n=400, horizon=30, dim=48, seed=0, factors=4):
    """Smooth chunks driven by a few shared factors (hand dimensions move together, as in real motion)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, horizon)[None, :, None]
    mix = rng.normal(size=(3, factors, dim)) / np.sqrt(factors)
    start, drift, bump = (rng.normal(size=(n, 1, factors)) @ mix[i] for i in range(3))
    return (start + drift * t + 0.3 * bump * np.sin(np.pi * t)).astype(np.float32)


def test_fast_round_trip_is_bounded_by_the_rounding():
    chunks = low_rank_chunks()
    tokenizer = fit_tokenizer("fast", chunks, {"vocab_size": 512})
    report = round_trip_report(tokenizer, chunks)
    # Each coefficient is off by <= 0.5 / scale; the orthonormal inverse DCT keeps the L2 norm per series.
    assert report.max_abs <= 0.5 / 10 * np.sqrt(30) + 1e-6
    assert report.rmse < 0.5 / 10  # uniform rounding: about 0.029
    assert report.mean_tokens < 30 * 48  # BPE merges characters
    assert tokenizer.vocab_size <= 512


def test_fast_decodes_any_id_sequence_without_failing():
    chunks = low_rank_chunks(100)
    tokenizer = fit_tokenizer("fast", chunks, {"vocab_size": 300})
    rng = np.random.default_rng(1)
    junk = [rng.integers(0, tokenizer.vocab_size, n).tolist() for n in (0, 3, 2000)]
    out = tokenizer.decode(junk)
    assert out.shape == (3, 30, 48) and np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0.0)


def test_rvq_round_trip_beats_the_mean_and_uses_its_codebooks():
    chunks = low_rank_chunks()
    tokenizer = fit_tokenizer("rvq", chunks, {"train_steps": 150, "batch_size": 64, "hidden": 128, "codebook_size": 64})
    report = round_trip_report(tokenizer, chunks)
    baseline = float(np.sqrt(np.mean((chunks - chunks.mean(0)) ** 2)))
    assert report.rmse < 0.7 * baseline, (report, baseline)
    tokens = np.array(tokenizer.encode(chunks))
    assert tokens.shape == (400, 20)  # 10 latents x 2 levels
    for level in range(2):  # each level has its own id block, and k-means init spreads the codes
        lo, hi = tokenizer.token_range(level)
        column = tokens[:, level::2]
        assert column.min() >= lo and column.max() < hi
        assert len(np.unique(column)) > 8


def test_rvq_euclidean_option_and_save_load(tmp_path):
    chunks = low_rank_chunks(200)
    tokenizer = fit_tokenizer(
        "rvq",
        chunks,
        {"train_steps": 20, "batch_size": 32, "hidden": 64, "codebook_size": 32, "similarity": "euclidean"},
    )
    tokenizer.save(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert isinstance(loaded, RVQTokenizer) and loaded.config.similarity == "euclidean"
    tokens = tokenizer.encode(chunks[:5])
    assert loaded.encode(chunks[:5]) == tokens
    np.testing.assert_array_equal(loaded.decode(tokens), tokenizer.decode(tokens))


def test_fast_save_load(tmp_path):
    chunks = low_rank_chunks(100)
    tokenizer = fit_tokenizer("fast", chunks, {"vocab_size": 300})
    tokenizer.save(tmp_path / "fast")
    loaded = load_tokenizer(tmp_path / "fast")
    assert isinstance(loaded, FASTTokenizer)
    assert loaded.encode(chunks[:4]) == tokenizer.encode(chunks[:4])
    # a damaged description or BPE file names the file and field that is wrong
    meta_path = tmp_path / "fast" / "tokenizer.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "max_tokens": "many"}))
    with pytest.raises(InputError, match=r"tokenizer\.json: max_tokens: expected an integer, got 'many'"):
        load_tokenizer(tmp_path / "fast")
    meta_path.write_text(json.dumps(meta))
    bpe = next(p for p in (tmp_path / "fast").iterdir() if p.name != "tokenizer.json")
    bpe.write_text("{ not json")
    with pytest.raises(InputError, match=f"{bpe.name}: cannot load the BPE model"):
        load_tokenizer(tmp_path / "fast")


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="chunks"):
        fit_tokenizer("fast", np.zeros((4, 30)))
    bad = low_rank_chunks(10)
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fit_tokenizer("fast", bad)
    with pytest.raises(ValueError, match="kind"):
        fit_tokenizer("bpe", low_rank_chunks(10))
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "tokenizer.json").write_text(json.dumps({"kind": "mystery"}))
    with pytest.raises(InputError, match="kind"):
        load_tokenizer(tmp_path / "t")


def test_cli_fits_on_a_dataset(tmp_path, capsys):
    from dexego.cli import main
    from dexego.data import DatasetWriter
    from dexego.data.synthetic import synthetic_episode

    with DatasetWriter(tmp_path / "ds") as writer:
        writer.add_episode(synthetic_episode(length=90, seed=0, video=False))
        writer.add_episode(synthetic_episode(length=90, seed=1, video=False))
    out = tmp_path / "tok"
    # in-process: the same parser and handler as the `dexego` command, without two interpreter start-ups
    assert (
        main(["tokenizer", "fit", str(tmp_path / "ds"), "--kind", "fast", "--out", str(out), "--set", "vocab_size=300"])
        == 0
    )
    assert "round trip: RMSE" in capsys.readouterr().out
    tokenizer = load_tokenizer(out)
    assert tokenizer.horizon == 30 and tokenizer.dim == 48
    assert json.loads((out / "action_stats.json").read_text())["normalization"] == "mean_std"
    assert main(["tokenizer", "fit", str(tmp_path / "none"), "--kind", "rvq", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "none/meta/info.json" in err and "Traceback" not in err and not (tmp_path / "x").exists()
