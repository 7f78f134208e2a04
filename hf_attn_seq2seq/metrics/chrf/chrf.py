"""Corpus chrF through sacreBLEU (Popović, 2015), computed offline."""

import datasets
import evaluate
import sacrebleu


_TEXT = datasets.Value("string")

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): detokenized system output.
    references (`list[str]` or `list[list[str]]`): one reference (or several) per prediction.
    word_order (`int`, defaults to 0): 2 gives chrF++.
Returns:
    score (`float`): chrF in [0, 100], and `signature`.
"""


class Chrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus-level chrF (sacreBLEU).",
            citation="Maja Popović. 2015. chrF: character n-gram F-score for automatic MT evaluation. WMT.",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": _TEXT, "references": datasets.Sequence(_TEXT)}),
                datasets.Features({"predictions": _TEXT, "references": _TEXT}),
            ],
        )

    def _compute(self, predictions, references, word_order=0):
        references = [[r] if isinstance(r, str) else list(r) for r in references]
        streams = [list(stream) for stream in zip(*references)]
        chrf = sacrebleu.metrics.CHRF(word_order=word_order)
        result = chrf.corpus_score(predictions, streams)
        return {"score": result.score, "signature": str(chrf.get_signature())}
