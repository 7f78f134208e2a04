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
    monkeypatch.setattr(ntm_copy, "read_pair", lambda seed, root: {"ntm": finished_run(2.0),
                                                                   "lstm": finished_run(3.0)})
    monkeypatch.setattr(ntm_copy, "rewrite_results", lambda: "")
    ntm_copy.main(["--report-only", "--seeds", "4", "--minutes", "15", "--output-dir", str(tmp_path / "runs")])
    record = json.loads(record_path.read_text())
    assert record["seeds"]["4"]["ntm"]["validation_bit_errors_per_sequence"] == 2.0
    assert record["notes"] == notes
