"""Sequence exact match: the fraction of predictions equal to their reference, as a whole string."""

import datasets
import evaluate


_DESCRIPTION = "Fraction of predictions that equal their reference exactly (after optional whitespace stripping)."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): generated sequences.
    references (`list[str]`): one reference per prediction.
    strip (`bool`, defaults to True): strip surrounding whitespace before comparing.
Returns:
    exact_match (`float`): in [0, 1].
"""


class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, strip=True):
        if not predictions:
            raise ValueError("exact_match needs at least one prediction.")
        if strip:
            predictions = [p.strip() for p in predictions]
            references = [r.strip() for r in references]
        matches = sum(p == r for p, r in zip(predictions, references))
        return {"exact_match": matches / len(predictions)}
