"""dexego errors raised inside DataLoader worker processes reach the caller as themselves, with their own message."""

import pytest
from torch.utils.data import DataLoader, Dataset

from dexego.errors import ConfigError, InputError


class _Broken(Dataset):
    def __init__(self, error):
        self.error = error

    def __len__(self):
        return 4

    def __getitem__(self, index):
        raise self.error


@pytest.mark.parametrize("error, expected", [
    (InputError("data/ds (episode 3)", "observation.state", "NaN or inf at frame 7"), "data/ds (episode 3): observation.state: NaN or inf at frame 7"),
    (ConfigError("sample config: horizon = 0 is out of range"), "sample config: horizon = 0 is out of range"),
])  # fmt: skip
def test_worker_errors_keep_their_type_and_message(error, expected):
    loader = DataLoader(_Broken(error), batch_size=2, num_workers=1)
    with pytest.raises(type(error)) as caught:
        next(iter(loader))
    assert str(caught.value) == expected  # not torch's "Caught ... Original Traceback" text


def test_plain_construction_is_unchanged():
    error = InputError("a.json", None, "not valid JSON")
    assert (error.path, error.field, error.problem, str(error)) == (
        "a.json",
        None,
        "not valid JSON",
        "a.json: not valid JSON",
    )
    assert str(InputError(None, None, "no samples")) == "no samples"
    assert str(ConfigError("x")) == "x"
