"""The benchmark records keep what was written into them by hand when a benchmark rebuilds them."""

import json

from benchmarks import ntm_copy
from hf_attn_seq2seq.data.ntm_tasks import COPY_TRAIN_ONES


def finished_run(bit_errors: float) -> dict:
    """What `ntm_copy.summary` reads from a run's metrics.json."""
    return {"parameters": 10, "train_seconds": 1.0, "train_steps": 5, "best_checkpoint_step": 5,
            "validation_bit_errors_per_sequence": bit_errors, "seconds_to_validation_below_threshold": None,
            "test": {"test": {"bit_errors_per_sequence": bit_errors, "sequences_copied": 0.0}},
            "evaluations": [{"eval_bit_errors_per_sequence": bit_errors}], "did_not_converge": True,
            "folder": "unused"}


def test_rebuilding_the_ntm_copy_record_keeps_its_notes(tmp_path, monkeypatch):
    record_path = tmp_path / "NTM_COPY.json"
    notes = ["a try that is not in the figures"]
    record_path.write_text(json.dumps({"commands": [], "minutes": 15.0, "train_ones": list(COPY_TRAIN_ONES),
                                       "seeds": {}, "notes": notes}))
    monkeypatch.setattr(ntm_copy, "NTM_COPY_PATH", record_path)
    monkeypatch.setattr(ntm_copy, "read_pair", lambda seed, root, presets: {
        preset: finished_run(3.0 if preset == "lstm" else 2.0) for preset in presets})
    monkeypatch.setattr(ntm_copy, "rewrite_results", lambda: "")
    ntm_copy.main(["--report-only", "--seeds", "4", "--minutes", "15", "--output-dir", str(tmp_path / "runs")])
    record = json.loads(record_path.read_text())
    assert record["seeds"]["4"]["ntm-feedforward"]["validation_bit_errors_per_sequence"] == 2.0
    assert record["notes"] == notes


def test_a_preset_measured_later_joins_the_seeds_others_measured(tmp_path, monkeypatch):
    """Running one preset on a seed (the feedforward NTM, say) adds it beside the presets recorded there before, and
    the old record's head measurements (per seed, from when only `ntm` was measured) stay under `ntm`."""
    record_path = tmp_path / "NTM_COPY.json"
    old_access = {"0": {"write_direction": "back"}}
    record_path.write_text(json.dumps({"commands": [], "minutes": 15.0, "train_ones": list(COPY_TRAIN_ONES),
                                       "seeds": {"0": {"ntm": {"kept": True}, "lstm": {"kept": True}}},
                                       "memory_access": old_access, "notes": []}))
    monkeypatch.setattr(ntm_copy, "NTM_COPY_PATH", record_path)
    monkeypatch.setattr(ntm_copy, "read_pair", lambda seed, root, presets: {
        preset: finished_run(1.0) for preset in presets})
    monkeypatch.setattr(ntm_copy, "rewrite_results", lambda: "")
    ntm_copy.main(["--report-only", "--seeds", "0", "--minutes", "15", "--presets", "ntm-feedforward",
                   "--output-dir", str(tmp_path / "runs")])
    record = json.loads(record_path.read_text())
    assert set(record["seeds"]["0"]) == {"ntm", "lstm", "ntm-feedforward"}
    assert record["seeds"]["0"]["ntm"] == {"kept": True}
    assert record["seeds"]["0"]["ntm-feedforward"]["validation_bit_errors_per_sequence"] == 1.0
    assert record["memory_access"]["ntm"] == old_access


def test_each_paper_task_keeps_its_own_budget(tmp_path, monkeypatch):
    """A run of another budget replaces that task's rows only; a run of the task's budget adds its seeds; a record
    from before budgets were per task gives every task the record's budget."""
    from benchmarks import ntm_paper_tasks

    record_path = tmp_path / "NTM_PAPER_TASKS.json"
    old_rows = {"seeds": {"0": {"ntm": {"kept": True}, "lstm": {"kept": True}}}}
    record_path.write_text(json.dumps({
        "commands": ["earlier"], "minutes": 15.0, "wall_seconds": 10, "notes": ["by hand"],
        "tasks": {"associative_recall": {"metric": "bit_errors_per_sequence", **old_rows},
                  "repeat_copy": {"metric": "bit_errors_per_sequence", **old_rows}}}))
    monkeypatch.setattr(ntm_paper_tasks, "NTM_PAPER_TASKS_PATH", record_path)
    def finished(bit_errors: float) -> dict:
        run = finished_run(bit_errors)
        return run | {"evaluations": [{"step": 5, "seconds": 1.0, "eval_bit_errors_per_sequence": bit_errors}]}

    monkeypatch.setattr(ntm_paper_tasks, "read_pair", lambda task, seed, root: {
        side: finished(4.0 if side == "lstm" else 1.0) for side in ntm_paper_tasks.MODELS})
    monkeypatch.setattr(ntm_paper_tasks, "rewrite_results", lambda: "")

    ntm_paper_tasks.main(["--report-only", "--minutes", "30", "--seeds", "1", "--tasks", "repeat_copy",
                          "--output-dir", str(tmp_path / "runs")])
    record = json.loads(record_path.read_text())
    assert "minutes" not in record and record["notes"] == ["by hand"] and record["commands"][0] == "earlier"
    assert record["tasks"]["associative_recall"] == {"minutes": 15.0, "metric": "bit_errors_per_sequence",
                                                     **old_rows}
    repeat_copy = record["tasks"]["repeat_copy"]
    assert repeat_copy["minutes"] == 30.0 and list(repeat_copy["seeds"]) == ["1"]  # the 15-minute seed 0 is gone
    assert repeat_copy["presets"] == {"ntm": "ntm", "lstm": "lstm"}
    assert repeat_copy["seeds"]["1"]["ntm"]["validation"] == 1.0

    ntm_paper_tasks.main(["--report-only", "--minutes", "30", "--seeds", "0", "--tasks", "repeat_copy",
                          "--output-dir", str(tmp_path / "runs")])
    assert list(json.loads(record_path.read_text())["tasks"]["repeat_copy"]["seeds"]) == ["0", "1"]


def test_seeds_added_from_another_folder_keep_the_first_seeds_picture_and_reading(tmp_path, monkeypatch):
    """Seed 1 recorded from its own output folder adds its rows; the memory picture and the N-grams reading measured
    on seed 0's NTM (whose folder is elsewhere) stay in the record."""
    from benchmarks import ntm_paper_tasks

    record_path = tmp_path / "NTM_PAPER_TASKS.json"
    picture = {"path": "docs/ntm_ngrams_memory_access.png", "seed": "0"}
    reading = {"seed": "0", "sequences": 64, "steps": 10, "mean": 0.9, "median": 0.9, "chance": 0.1}
    record_path.write_text(json.dumps({"commands": [], "wall_seconds": 0, "notes": [], "tasks": {"ngrams": {
        "metric": "cost_per_sequence", "minutes": 30.0, "presets": {"ntm": "ntm", "lstm": "lstm"},
        "seeds": {"0": {"ntm": {"kept": True}, "lstm": {"kept": True}}}, "picture": picture,
        "memory_use": reading}}}))
    monkeypatch.setattr(ntm_paper_tasks, "NTM_PAPER_TASKS_PATH", record_path)
    run = {"parameters": 10, "train_seconds": 1.0, "train_steps": 5, "best_checkpoint_step": 5,
           "validation_cost_per_sequence": 150.0, "test": {"test": {"cost_per_sequence": 150.0}},
           "evaluations": [{"step": 5, "seconds": 1.0, "eval_cost_per_sequence": 150.0}]}
    monkeypatch.setattr(ntm_paper_tasks, "read_pair", lambda task, seed, root: {
        side: run for side in ntm_paper_tasks.MODELS})
    monkeypatch.setattr(ntm_paper_tasks, "rewrite_results", lambda: "")
    ntm_paper_tasks.main(["--report-only", "--minutes", "30", "--seeds", "1", "--tasks", "ngrams",
                          "--output-dir", str(tmp_path / "seed-1-runs")])
    ngrams = json.loads(record_path.read_text())["tasks"]["ngrams"]
    assert list(ngrams["seeds"]) == ["0", "1"] and ngrams["seeds"]["1"]["ntm"]["validation"] == 150.0
    assert ngrams["picture"] == picture and ngrams["memory_use"] == reading


def test_the_ngrams_reading_share_counts_the_rows_after_the_same_context():
    """On bits of period 3 every 5-bit context comes back every 3 steps. With the write head on row w at step w
    (holding bit w - 1), the rows that follow an earlier occurrence of step t's context are those written at steps
    w < t with w - 2 = t (mod 3); the latest is row t - 1."""
    import numpy as np
    import pytest

    from benchmarks.ntm_paper_tasks import reads_after_same_context

    steps = 40
    bits = np.array([[0, 1, 1] * 14])[:, :steps]
    written_rows = np.arange(steps)[None]
    on_latest_following, on_row_before = np.zeros((1, steps, steps)), np.zeros((1, steps, steps))
    for step in range(1, steps):
        on_latest_following[0, step, step - 1] = 1.0
        on_row_before[0, step, max(step - 2, 0)] = 1.0  # written at t - 2: it follows the context of t - 1
    found = reads_after_same_context(bits, written_rows, on_latest_following)
    assert found["steps"] == 10 and found["mean"] == 1.0 and found["median"] == 1.0
    # the share a read spread over the t rows written so far would give: rows 6 .. t - 1 with w = t - 1 (mod 3)
    expected_chance = np.mean([len(range(6 + (step - 1 - 6) % 3, step, 3)) / step for step in range(30, steps)])
    assert found["chance"] == pytest.approx(expected_chance)
    assert reads_after_same_context(bits, written_rows, on_row_before)["mean"] == 0.0
    with pytest.raises(ValueError, match="No step has an earlier occurrence"):
        reads_after_same_context(bits[:, :20], written_rows[:, :20], on_latest_following[:, :20, :20])


def test_the_ngrams_table_sets_the_mean_over_seeds_beside_the_mean_optimum():
    """Each seed's test sequences have their own optimum, so the table's optimum is the mean over the same seeds as
    the models' figures."""
    from benchmarks.report import ntm_paper_tasks_section

    def run(cost: float, optimum: float) -> dict:
        return {"parameters": 1, "train_steps": 1, "validation": cost, "best_checkpoint_step": 1, "curve": [],
                "test": {"test": {"cost_per_sequence": cost, "optimal_cost_per_sequence": optimum}}}

    section = ntm_paper_tasks_section({"commands": [], "tasks": {"ngrams": {
        "metric": "cost_per_sequence", "minutes": 30.0,
        "seeds": {"0": {"ntm": run(140.0, 128.0), "lstm": run(130.0, 128.0)},
                  "1": {"ntm": run(160.0, 126.0), "lstm": run(128.0, 126.0)}}}}})
    assert "| test | 150.00 | 129.00 | 127.00 |" in section
