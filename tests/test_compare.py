"""training.compare: the seed's comparison on any toy task, with and without source reversal."""

import json

from training.compare import main


def test_compare_on_addition_with_and_without_reversal(tmp_path):
    results = main(["--task", "addition", "--with-reversal", "--models", "seq2seq", "attention", "--epochs", "1",
                    "--num-examples", "60", "--output-dir", str(tmp_path)])
    assert list(results) == ["seq2seq", "seq2seq (reversed)", "attention", "attention (reversed)"]
    for result in results.values():
        assert len(result["test_exact_match_per_epoch"]) == 1
        assert 0.0 <= result["test_exact_match_per_epoch"][0] <= 100.0
    assert results["attention"]["parameters"] == results["attention (reversed)"]["parameters"]
    table = (tmp_path / "results.md").read_text()
    assert "on the addition task" in table and "| attention (reversed) |" in table
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert (tmp_path / "accuracy.png").stat().st_size > 0
