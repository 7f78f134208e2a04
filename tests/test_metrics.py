import gzip
import math
from pathlib import Path

import evaluate
import numpy as np
import pytest
from transformers import EvalPrediction

from hf_attn_seq2seq.data.tokenization import build_char_tokenizer
from hf_attn_seq2seq.metrics import make_compute_metrics, metric_path, moses_tokenize, tokenized_bleu


def test_exact_match_loads_offline_by_path():
    metric = evaluate.load(metric_path("exact_match"))
    assert metric.compute(predictions=["a", "b ", "c"], references=["a", "b", "d"])["exact_match"] == 2 / 3


def test_bleu_matches_a_hand_computed_score():
    # 1-4 gram precisions 5/6, 3/5, 1/4 and 0/3 (exp smoothing: 1/(2*3)); equal lengths, so no brevity penalty.
    expected = 100 * math.exp(sum(math.log(p) for p in (5 / 6, 3 / 5, 1 / 4, 1 / 6)) / 4)
    result = evaluate.load(metric_path("bleu")).compute(predictions=["the cat is on the mat"],
                                                        references=[["the cat sat on the mat"]])
    assert result["score"] == pytest.approx(expected)
    assert result["bp"] == 1.0


def test_bleu_and_chrf_are_perfect_on_identical_text():
    for name in ("bleu", "chrf"):
        score = evaluate.load(metric_path(name)).compute(predictions=["a man walks his dog ."],
                                                         references=["a man walks his dog ."])["score"]
        assert score == pytest.approx(100.0)


def test_unknown_metric_is_rejected():
    with pytest.raises(ValueError, match="Unknown metric 'rouge'"):
        metric_path("rouge")


def test_compute_metrics_decodes_generations_and_labels():
    tokenizer = build_char_tokenizer(["0123456789-"])
    targets = ["1994-09-27", "2001-01-01"]
    labels = [tokenizer(t)["input_ids"] for t in targets]
    labels = np.array([row + [-100] * (12 - len(row)) for row in labels])
    generated = [[1] + tokenizer(t)["input_ids"] for t in ("1994-09-27", "2001-01-02")]
    generated = np.array([row + [0] * (13 - len(row)) for row in generated])
    scores = make_compute_metrics(tokenizer, ("exact_match", "chrf"))(EvalPrediction(generated, labels))
    assert scores["exact_match"] == 50.0
    assert 0 < scores["chrf"] < 100


# --- the lowercased tokenized BLEU convention ---------------------------------------------------------------------

MULTI30K = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"


def test_moses_tokenize_lowercases_normalizes_and_escapes():
    assert moses_tokenize(['A man\'s "hat", 3.5 m long!'], "en") == ["a man &apos;s &quot; hat , &quot; 3.5 m long !"]
    assert moses_tokenize(["Ein „Hund“ läuft."], "de") == ["ein &quot; hund &quot; läuft ."]


def test_tokenized_bleu_scores_detokenized_output_in_the_tokenized_convention():
    references = moses_tokenize(["A dog runs in the snow.", "Two men play chess."], "en")
    assert tokenized_bleu(["a Dog runs in the snow .", "Two men play chess."], references, "en") == pytest.approx(100)
    assert tokenized_bleu(["A cat sleeps.", "Two men play chess."], references, "en") < 100
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        tokenized_bleu(["a", "b"], references[:1], "en")


@pytest.mark.skipif(not MULTI30K.is_dir(), reason="../shared/data/multi30k is not present")
@pytest.mark.parametrize("lang", ["de", "en"])
def test_moses_tokenize_reproduces_the_multi30k_tok_files(lang):
    raw = gzip.open(MULTI30K / f"test_2016_flickr.{lang}.gz", "rt", encoding="utf-8").read().splitlines()
    tokenized = gzip.open(MULTI30K / "tok" / f"test_2016_flickr.lc.norm.tok.{lang}.gz", "rt",
                          encoding="utf-8").read().splitlines()
    assert moses_tokenize(raw, lang) == tokenized
