"""`evaluate` metric modules that load offline by path, and a `compute_metrics` factory for `Seq2SeqTrainer`."""

from pathlib import Path

import numpy as np


METRICS_DIR = Path(__file__).parent
METRIC_NAMES = ("exact_match", "bleu", "chrf")


def metric_path(name: str) -> str:
    """The folder to pass to `evaluate.load` for one of `METRIC_NAMES`."""
    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown metric {name!r}; expected one of {', '.join(repr(m) for m in METRIC_NAMES)}.")
    return str(METRICS_DIR / name)


def load_metric(name: str):
    import evaluate

    return evaluate.load(metric_path(name))


def decode_predictions(tokenizer, token_ids) -> list[str]:
    """Decode generated ids or labels (-100 read as padding) to stripped strings."""
    token_ids = np.asarray(token_ids)
    token_ids = np.where(token_ids < 0, tokenizer.pad_token_id, token_ids)
    return [text.strip() for text in tokenizer.batch_decode(token_ids, skip_special_tokens=True)]


def make_compute_metrics(tokenizer, metric_names: tuple[str, ...] = ("exact_match",)):
    """A `compute_metrics` for `Seq2SeqTrainer(predict_with_generate=True)`: decodes and scores the generations.

    Returns `exact_match` (in percent) and, when asked, `bleu` and `chrf` (sacreBLEU scores).
    """
    metrics = {name: load_metric(name) for name in metric_names}

    def compute_metrics(eval_prediction) -> dict[str, float]:
        predictions = decode_predictions(tokenizer, eval_prediction.predictions)
        references = decode_predictions(tokenizer, eval_prediction.label_ids)
        scores = {}
        for name, metric in metrics.items():
            result = metric.compute(predictions=predictions, references=references)
            scores[name] = 100 * result["exact_match"] if name == "exact_match" else result["score"]
        return scores

    return compute_metrics


def moses_tokenize(texts: list[str], lang: str) -> list[str]:
    """Lowercase, normalize punctuation and tokenize as Moses does (with XML escaping).

    This is the `*.lc.norm.tok.*` convention of Multi30k (`lowercase.perl`, `normalize-punctuation.perl -l L`,
    `tokenizer.perl -l L`) in which the published LSTM/GRU scores are reported.
    """
    from sacremoses import MosesPunctNormalizer, MosesTokenizer

    normalizer, tokenizer = MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang)
    return [tokenizer.tokenize(normalizer.normalize(text.lower()), return_str=True, escape=True) for text in texts]


def tokenized_bleu(predictions: list[str], tokenized_references: list[str], lang: str) -> float:
    """BLEU of detokenized `predictions` in the lowercased Moses-tokenized convention (`moses_tokenize`), against
    references already in it (as `multi-bleu.perl` scores them: no further tokenization)."""
    import sacrebleu

    if len(predictions) != len(tokenized_references):
        raise ValueError(f"{len(predictions)} predictions but {len(tokenized_references)} references.")
    hypotheses = moses_tokenize(predictions, lang)
    return sacrebleu.corpus_bleu(hypotheses, [list(tokenized_references)], tokenize="none", force=True).score


__all__ = [
    "METRIC_NAMES",
    "decode_predictions",
    "load_metric",
    "make_compute_metrics",
    "metric_path",
    "moses_tokenize",
    "tokenized_bleu",
]
