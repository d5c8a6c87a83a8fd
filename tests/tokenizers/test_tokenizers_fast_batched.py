"""The batched FAST encoder/decoder: known values, agreement with a plain per-dimension reference, bad input."""

import numpy as np
import pytest

from dexego.errors import ConfigError, InputError
from dexego.tokenizers import FASTTokenizer, fit_tokenizer

H, D, SCALE = 30, 48, 10.0


def low_rank_chunks(n=200, seed=0, factors=4):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, H)[None, :, None]
    mix = rng.normal(size=(3, factors, D)) / np.sqrt(factors)
    start, drift, bump = (rng.normal(size=(n, 1, factors)) @ mix[i] for i in range(3))
    return (start + drift * t + 0.3 * bump * np.sin(np.pi * t)).astype(np.float32)


@pytest.fixture(scope="module")
def tokenizer() -> FASTTokenizer:
    return fit_tokenizer("fast", low_rank_chunks(), {"vocab_size": 400})


def cosine_basis(horizon: int) -> np.ndarray:
    """(frequency k, time t) rows of the orthonormal DCT-II basis, written out."""
    k, t = np.arange(horizon)[:, None], np.arange(horizon)[None, :]
    weight = np.where(k == 0, np.sqrt(1 / horizon), np.sqrt(2 / horizon))
    return weight * np.cos(np.pi * k * (2 * t + 1) / (2 * horizon))


def reference_decode(tokenizer: FASTTokenizer, tokens) -> np.ndarray:
    """One BPE decode per chunk, one character per coefficient, one inverse DCT per dimension."""
    size = tokenizer.horizon * tokenizer.dim
    basis = cosine_basis(tokenizer.horizon)
    out = np.zeros((len(tokens), tokenizer.horizon, tokenizer.dim))
    for i, ids in enumerate(tokens):
        coefficients = np.zeros(size)
        for j, char in enumerate(tokenizer.bpe.decode([int(t) for t in ids])[:size]):
            value = ord(char) + tokenizer.min_value
            coefficients[j] = value if tokenizer.min_value <= value <= tokenizer.max_value else 0
        coefficients = coefficients.reshape(tokenizer.horizon, tokenizer.dim) / tokenizer.config.scale
        for d in range(tokenizer.dim):
            out[i, :, d] = basis.T @ coefficients[:, d]
    return out


def test_known_coefficients_give_the_cosines(tokenizer):
    assert tokenizer.min_value <= -3 and tokenizer.max_value >= 7
    t = np.arange(H)
    chunk = np.zeros((1, H, D), dtype=np.float32)
    chunk[0, :, 5] = 7 / (SCALE * np.sqrt(H))  # DC coefficient 7 (after x scale) in dim 5
    chunk[0, :, 0] = -3 / SCALE * np.sqrt(2 / H) * np.cos(np.pi * (2 * t + 1) / (2 * H))  # frequency 1 in dim 0: -3
    ids = tokenizer.encode(chunk)
    # Row-major (frequency, dim) characters, each coefficient offset by -min_value.
    expected = [chr(-tokenizer.min_value)] * (H * D)
    expected[5] = chr(7 - tokenizer.min_value)
    expected[D + 0] = chr(-3 - tokenizer.min_value)
    assert tokenizer.bpe.decode(ids[0]) == "".join(expected)
    decoded = tokenizer.decode(ids)
    np.testing.assert_allclose(decoded, chunk, atol=1e-6)
    assert np.abs(decoded[0, :, 0]).max() == pytest.approx(0.3 * np.sqrt(2 / H) * np.cos(np.pi / (2 * H)), abs=1e-6)
    np.testing.assert_array_equal(np.delete(decoded[0], [0, 5], axis=1), 0.0)


def test_round_trip_is_within_the_rounding_bound(tokenizer):
    chunks = low_rank_chunks(50, seed=3)
    error = tokenizer.decode(tokenizer.encode(chunks)) - chunks
    # every coefficient is off by <= 0.5 / scale; the orthonormal inverse DCT of one series keeps its L2 norm
    assert np.sqrt((error**2).sum(axis=1)).max() <= 0.5 / SCALE * np.sqrt(H) + 1e-5
    assert np.abs(error).max() > 0  # rounding did happen: the bound above is not vacuous


def test_decode_agrees_with_the_per_dimension_reference(tokenizer):
    rng = np.random.default_rng(7)
    random_ids = [rng.integers(0, tokenizer.vocab_size, n).tolist() for n in (0, 1, 13, 231, 400, 2000)]
    clipped = tokenizer.encode(low_rank_chunks(4, seed=5) * 6)  # beyond the fitted range: clipped coefficients
    real = tokenizer.encode(low_rank_chunks(4, seed=6))
    for tokens in (random_ids, clipped, real):
        decoded = tokenizer.decode(tokens)
        assert decoded.dtype == np.float32 and decoded.shape == (len(tokens), H, D)
        np.testing.assert_allclose(decoded, reference_decode(tokenizer, tokens), rtol=1e-6, atol=1e-6)
    assert tokenizer.decode([]).shape == (0, H, D) and tokenizer.encode(np.zeros((0, H, D))) == []


def test_batch_equals_per_item(tokenizer):
    chunks = low_rank_chunks(6, seed=9)
    tokens = tokenizer.encode(chunks)
    assert tokens == [tokenizer.encode(c[None])[0] for c in chunks]
    rng = np.random.default_rng(2)
    tokens = tokens + [rng.integers(0, tokenizer.vocab_size, n).tolist() for n in (0, 5, 900)]
    batch = tokenizer.decode(tokens)
    np.testing.assert_array_equal(batch, np.concatenate([tokenizer.decode([t]) for t in tokens]))
    # the same ids as an (N, L) integer array, or as integral floats, decode the same
    square = [t[:100] for t in tokens[:6]]
    np.testing.assert_array_equal(tokenizer.decode(np.array(square, dtype=np.int32)), tokenizer.decode(square))
    np.testing.assert_array_equal(
        tokenizer.decode([np.array(square[0], dtype=np.float64)]), tokenizer.decode(square[:1])
    )


def test_bad_input_is_named(tokenizer):
    vocab = tokenizer.vocab_size
    cases = [
        ([[1, 2], [3, vocab]], rf"tokens\[1\]: token id {vocab} outside the vocabulary \[0, {vocab}\)"),
        ([[-1]], r"tokens\[0\]: token id -1 outside the vocabulary"),
        ([[1.0, np.nan]], r"tokens\[0\]: expected integer token ids, got NaN or inf"),
        ([[1.5]], r"tokens\[0\]: expected integer token ids, got dtype float64"),
        ([["7"]], r"tokens\[0\]: expected integer token ids"),
        ([[[1, 2]]], r"tokens\[0\]: expected a sequence of token ids, got shape \(1, 2\)"),
        ([1, 2, 3], r"tokens\[0\]: expected a sequence of token ids, got shape \(\)"),
        (5, r"tokens: expected a batch of token id sequences, got int"),
        ("abc", r"tokens: expected a batch of token id sequences, got str"),
    ]
    for tokens, message in cases:
        with pytest.raises(InputError, match=message):
            tokenizer.decode(tokens)
    with pytest.raises(InputError, match=r"chunks: expected chunks of shape \(N, 30, 48\)"):
        tokenizer.encode(np.zeros((2, H, D - 1)))
    chunk = np.zeros((1, H, D))
    chunk[0, 3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        tokenizer.encode(chunk)


def test_fit_refuses_a_scale_beyond_one_character_per_value():
    with pytest.raises(ConfigError, match="lower scale"):
        fit_tokenizer("fast", low_rank_chunks(20), {"scale": 1e5})
