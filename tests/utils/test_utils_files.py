"""dexego.utils.files: the atomic writes and checked JSON reads every package uses."""

import json
import os

import pytest

from dexego.errors import InputError
from dexego.utils.files import TMP_MARK, atomic_directory, read_json, write_json_atomic, write_text_atomic


def test_atomic_file_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "out.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(path.parent) == ["out.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_text_atomic(tmp_path / "page.html", "old")
    with pytest.raises(TypeError):
        write_json_atomic(path, {"not serialisable": object()})
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["page.html"]


def test_atomic_directory_swaps_whole_directories_and_cleans_up_on_failure(tmp_path):
    final = tmp_path / "tokenizer"
    with atomic_directory(final) as tmp:
        assert TMP_MARK in tmp.name and not final.exists()
        (tmp / "a.txt").write_text("1")
    with atomic_directory(final) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(os.listdir(final)) == ["b.txt"]  # the old contents went with the old directory
    with pytest.raises(RuntimeError):
        with atomic_directory(final) as tmp:
            (tmp / "c.txt").write_text("3")
            raise RuntimeError("killed")
    assert sorted(os.listdir(final)) == ["b.txt"] and os.listdir(tmp_path) == ["tokenizer"]


def test_read_json_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"none\.json: file not found \(run results\)"):
        read_json(tmp_path / "none.json", "run results")
    (tmp_path / "bad.json").write_text('{"a": ')
    with pytest.raises(InputError, match=r"bad\.json: not valid JSON"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(InputError, match=r"latin1\.json: not valid JSON \(not UTF-8"):
        read_json(tmp_path / "latin1.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    assert read_json(tmp_path / "list.json") == [1, 2]
    with pytest.raises(InputError, match=r"list\.json: expected a JSON object, got list"):
        read_json(tmp_path / "list.json", expect=dict)
