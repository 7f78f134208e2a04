"""Corpus BLEU through sacreBLEU (Post, 2018), computed offline."""

import datasets
import evaluate
import sacrebleu


_TEXT = datasets.Value("string")

_CITATION = """@inproceedings{post-2018-call,
  title = "A Call for Clarity in Reporting {BLEU} Scores",
  author = "Post, Matt",
  booktitle = "Proceedings of the Third Conference on Machine Translation",
  year = "2018",
  pages = "186--191",
}"""
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): detokenized system output.
    references (`list[str]` or `list[list[str]]`): one reference (or several) per prediction.
    tokenize (`str`, defaults to "13a"): sacreBLEU tokenizer; "none" for text that is already tokenized.
    lowercase (`bool`, defaults to False).
Returns:
    score (`float`): BLEU in [0, 100]; also `precisions`, `bp`, `sys_len`, `ref_len` and `signature`.
"""


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus-level BLEU (sacreBLEU).",
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": _TEXT, "references": datasets.Sequence(_TEXT)}),
                datasets.Features({"predictions": _TEXT, "references": _TEXT}),
            ],
        )

    def _compute(self, predictions, references, tokenize="13a", lowercase=False):
        references = [[r] if isinstance(r, str) else list(r) for r in references]
        counts = {len(r) for r in references}
        if len(counts) != 1:
            raise ValueError("Every prediction needs the same number of references.")
        streams = [list(stream) for stream in zip(*references)]
        bleu = sacrebleu.metrics.BLEU(tokenize=tokenize, lowercase=lowercase)
        result = bleu.corpus_score(predictions, streams)
        return {
            "score": result.score,
            "precisions": result.precisions,
            "bp": result.bp,
            "sys_len": result.sys_len,
            "ref_len": result.ref_len,
            "signature": str(bleu.get_signature()),
        }
