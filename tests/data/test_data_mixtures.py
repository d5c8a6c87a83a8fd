"""Mixture entries, mixture files and the one sampling rule (dexego.data.mixtures)."""

from pathlib import Path

import numpy as np
import pytest

from dexego.data.mixtures import (
    MixtureEntry,
    MixtureSampler,
    check_dataset_paths,
    epoch_counts,
    epoch_quotas,
    read_mixture,
)
from dexego.errors import InputError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_mixture_file_or_its_root(tmp_path):
    mix = _write(
        tmp_path / "mixes" / "m.toml",
        '[[datasets]]\npath = "a"\nweight = 3\n[[datasets]]\npath = "/abs/b"\nweight = 1\nname = "bee"\n',
    )
    a, b = read_mixture(mix)
    assert a == MixtureEntry(str(tmp_path / "mixes" / "a"), 3.0) and a.label == "a"
    assert b.path == "/abs/b" and b.label == "bee"
    rooted = _write(tmp_path / "mixes" / "r.toml", 'root = "../data"\n[[datasets]]\npath = "a"\nscale = 0.5\n')
    (entry,) = read_mixture(rooted)
    assert Path(entry.path) == tmp_path / "mixes" / ".." / "data" / "a" and entry.scale == 0.5


def test_shipped_egovla_mixture_draws_a_tenth_of_holoassist(tmp_path):
    from dexego.configs import config_text

    # saved where the built-in pretrain config reads it: mixtures/ of the working directory; datasets in its data/
    saved = _write(tmp_path / "mixtures" / "egovla_human.toml", config_text("mixtures/egovla_human"))
    entries = read_mixture(saved)
    names = [e.label for e in entries]
    assert sorted(names) == ["hoi4d", "holoassist", "hot3d", "taco"]  # EgoVLA Sec. 3.1
    assert all(Path(e.path).resolve().parent == tmp_path / "data" for e in entries)
    sizes = [1000, 500, 4000, 300]
    quotas = dict(zip(names, epoch_quotas(entries, [sizes[names.index(n)] for n in names])))
    # every other dataset once per epoch, HoloAssist at 1/10 of its samples
    assert quotas == {"hoi4d": 1000, "hot3d": 500, "holoassist": pytest.approx(400), "taco": 300}


def test_weights_are_per_dataset_shares_and_scales_per_sample_rates():
    sizes = [300, 100]
    # weights: shares of the epoch whatever the sizes; the epoch keeps its natural length
    assert list(epoch_quotas([MixtureEntry("a", 1.0), MixtureEntry("b", 1.0)], sizes)) == [200, 200]
    # no weight or scale: every sample once; scale: that many draws of each sample per epoch
    assert list(epoch_quotas([MixtureEntry("a"), MixtureEntry("b")], sizes)) == [300, 100]
    assert list(epoch_quotas([MixtureEntry("a"), MixtureEntry("b", scale=2.0)], sizes)) == [300, 200]
    assert epoch_counts([200.0, 200.0], num_samples=10) == [5, 5]


@pytest.mark.parametrize("body, field, message", [
    ('[[datasets]]\npath = "a"\nweight = 1\nscale = 1\n', "datasets[0]", "weight or scale, not both"),
    ('[[datasets]]\npath = "a"\nwieght = 1\n', "datasets[0].wieght", "unknown key"),
    ('[[datasets]]\npath = "a"\nweight = -1\n', "datasets[0]", "weight must be > 0"),
    ('[[datasets]]\npath = "a"\nweight = "x"\n', "datasets[0].weight", "expected a number"),
    ('[[datasets]]\nweight = 1\n', "datasets[0].path", "expected a dataset folder path"),
    ('[[datasets]]\npath = "a"\nweight = 1\n[[datasets]]\npath = "b"\n', "datasets", "to every dataset"),
    ('[[datasets]]\npath = "a"\nweight = 1\n[[datasets]]\npath = "b"\nscale = 0.1\n', "datasets", "to every dataset"),
    ('title = "x"\n', "title", "unknown key"),
    ('root = "x"\n', "datasets", "expected .*datasets.* tables"),
    ('[[datasets]\n', None, "cannot read"),
])  # fmt: skip
def test_bad_mixture_files_name_the_file_and_the_field(tmp_path, body, field, message):
    mix = _write(tmp_path / "mix.toml", body)
    with pytest.raises(InputError, match=message) as info:
        read_mixture(mix)
    assert str(info.value).startswith(f"{mix}: {field + ': ' if field else ''}")


def test_missing_mixture_file_and_missing_dataset_are_named(tmp_path):
    with pytest.raises(InputError, match="mixture file not found"):
        read_mixture(tmp_path / "nowhere.toml")
    entries = (MixtureEntry(str(tmp_path)), MixtureEntry(str(tmp_path / "gone")))
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "info.json").write_text("{}")
    with pytest.raises(InputError) as info:
        check_dataset_paths(entries, "datasets", mixture_file=tmp_path / "m.toml")
    assert str(info.value) == f"{tmp_path / 'm.toml'}: datasets[1].path: dataset not found: {tmp_path / 'gone'}"


def test_sampler_draws_weighted_datasets_in_their_ratio():
    # 3:1 weights over datasets of 40 and 25 samples (a per-dataset share: the sizes do not matter)
    sampler = MixtureSampler([40, 25], weights=[3.0, 1.0], seed=5, num_samples=4000)
    assert sampler.counts == [3000, 1000]
    for epoch in range(3):
        indices = sampler.epoch_indices(epoch).numpy()
        assert (indices < 40).sum() == 3000 and np.bincount(indices, minlength=65).min() > 0
        # any window of the shuffled epoch is a sample without replacement (hypergeometric):
        # 400 draws, p = 3/4 -> sd = sqrt(400 * 3/4 * 1/4 * 3600/3999) ~ 8.2; allow 4 sd
        assert abs(int((indices[:400] < 40).sum()) - 300) <= 33
