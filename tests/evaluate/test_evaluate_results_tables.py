import json

import pytest

from dexego.errors import InputError
from dexego.evaluate.results import load_results, parse_results
from dexego.evaluate.tables import Table, benchmark_tables, tables_to_markdown


def rollout(task, split, success, done=None, total=None, **extra):
    record = {"task": task, "split": split, "success": success, **extra}
    if total is not None:
        record.update(subtasks_done=done, subtasks_total=total)
    return record


def test_sr_and_psr_from_rollouts():
    data = {
        "policy": "egovla",
        "rollouts": [
            rollout("Stack-Can", "seen", True, 3, 3),
            rollout("Stack-Can", "seen", False, 1, 3),
            rollout("Stack-Can", "seen", False, 0, 3),
            rollout("Stack-Can", "unseen", True, 3, 3),
            rollout("Push-Box", "seen", False, progress=0.5),
            rollout("Push-Box", "seen", True),
        ],
        "seeds": [1, 2, 3],
    }
    results = parse_results(data)
    stack = results.scores["seen"]["Stack-Can"]
    assert stack.sr == pytest.approx(1 / 3) and stack.psr == pytest.approx((1 + 1 / 3 + 0) / 3) and stack.rollouts == 3
    push = results.scores["seen"]["Push-Box"]
    assert push.sr == pytest.approx(0.5) and push.psr == pytest.approx(0.75)
    assert results.scores["unseen"]["Stack-Can"].sr == 1.0
    assert results.tasks() == ["Push-Box", "Stack-Can"]
    assert results.metadata == {"seeds": [1, 2, 3]}


def test_summary_form_and_policy_name_from_file(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"tasks": {"Flip-Mug": {"seen": {"sr": 0.5, "psr": 0.6, "rollouts": 27}}}}))
    results = load_results(path)
    assert results.policy == "baseline"
    assert results.scores["seen"]["Flip-Mug"].psr == 0.6


@pytest.mark.parametrize(
    "record, field",
    [
        ({"task": "A", "split": "train", "success": True}, "rollouts[0].split"),
        ({"task": "A", "split": "seen", "success": 1}, "rollouts[0].success"),
        ({"task": "", "split": "seen", "success": True}, "rollouts[0].task"),
        ({"task": "A", "split": "seen", "success": True, "progress": 1.5}, "rollouts[0].progress"),
        (
            {"task": "A", "split": "seen", "success": True, "subtasks_done": 4, "subtasks_total": 3},
            "rollouts[0].subtasks_done",
        ),
    ],
)
def test_bad_rollouts_name_the_field(tmp_path, record, field):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"rollouts": [record]}))
    with pytest.raises(InputError, match=field.replace("[", r"\[").replace("]", r"\]")) as info:
        load_results(path)
    assert str(path) in str(info.value)


def test_corrupt_and_empty_files(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"rollouts": [')
    with pytest.raises(InputError, match="not valid JSON"):
        load_results(path)
    path.write_text("{}")
    with pytest.raises(InputError, match="rollouts"):
        load_results(path)
    path.write_text(json.dumps({"tasks": {"A": {"seen": {"sr": float("nan")}}}}))
    with pytest.raises(InputError, match="tasks.A.seen.sr"):
        load_results(path)


def test_benchmark_tables_markdown_and_html():
    a = parse_results(
        {
            "policy": "ours",
            "rollouts": [
                rollout("Stack-Can", "seen", True, 2, 2),
                rollout("Push-Box", "seen", False, 1, 2),
                rollout("Stack-Can", "unseen", False, 1, 2),
            ],
        }
    )
    b = parse_results({"policy": "ours", "rollouts": [rollout("Stack-Can", "seen", False, 0, 2)]})
    tables = benchmark_tables([a, b])
    assert [t.title.split(":")[0] for t in tables] == [
        "Mean success (SR) and progress (PSR) rates",
        "Seen backgrounds",
        "Unseen backgrounds",
    ]
    overview = tables[0]
    assert overview.header == (
        "Policy",
        "seen SR %",
        "seen PSR %",
        "seen tasks",
        "unseen SR %",
        "unseen PSR %",
        "unseen tasks",
    )
    assert overview.rows[0] == ("ours", "50.0", "75.0", "2", "0.0", "50.0", "1")
    assert overview.rows[1] == ("ours #2", "0.0", "0.0", "1", "—", "—", "0")
    seen = tables[1]
    assert seen.rows == (
        ("Push-Box", "0.0", "50.0", "—", "—"),
        ("Stack-Can", "100.0", "100.0", "0.0", "0.0"),
        ("Mean", "50.0", "75.0", "0.0", "0.0"),
    )
    markdown = tables_to_markdown(tables)
    assert "| Stack-Can | 100.0 | 100.0 | 0.0 | 0.0 |" in markdown
    html = seen.to_html()
    assert html.count("<tr>") == 4 and "<th>ours #2 PSR</th>" in html


def test_table_escapes_and_checks_row_width():
    table = Table("t", ("a", "b"), (("x|y", "<b>"),))
    assert "x\\|y" in table.to_markdown() and "&lt;b&gt;" in table.to_html()
    with pytest.raises(ValueError, match="cells"):
        Table("t", ("a", "b"), (("only one",),))
    with pytest.raises(ValueError, match="no benchmark results"):
        benchmark_tables([])
