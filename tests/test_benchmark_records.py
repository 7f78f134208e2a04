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
