"""Does GNMT's beam-search scoring help? BLEU of one trained model on a validation split under each scoring.

    python -m benchmarks.beam_scoring --model outputs/mt-de-en/model --dataset ../shared/data/multi30k \\
        --source-lang de --target-lang en

Compares greedy search, transformers' beam search (its default length penalty, log P / |Y|, and none), and
`gnmt_beam_search` with GNMT's length normalization (alpha) and coverage penalty (beta) alone and together. Prints a
markdown table and writes it, with the JSON, beside the model (`beam_scoring.md`, `beam_scoring.json`).
"""

import argparse
import json
import time
from pathlib import Path

from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

import hf_attn_seq2seq  # noqa: F401  (registers the Auto classes)
from benchmarks.report import scoring_table
from hf_attn_seq2seq.data.tasks import load_translation
from hf_attn_seq2seq.evaluation import predict_texts, tokenized_references
from hf_attn_seq2seq.metrics import load_metric, tokenized_bleu
from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import gnmt_beam_search


def settings(num_beams: int) -> dict[str, dict]:
    gnmt = {"custom_generate": gnmt_beam_search, "num_beams": num_beams}
    return {
        "greedy": {"num_beams": 1},
        "beam, no length penalty": {"num_beams": num_beams, "length_penalty": 0.0, "early_stopping": True},
        "beam, transformers default (log P / length)": {"num_beams": num_beams, "length_penalty": 1.0},
        "GNMT alpha=0 beta=0": {**gnmt, "length_alpha": 0.0, "coverage_beta": 0.0},
        "GNMT alpha=0.6": {**gnmt, "length_alpha": 0.6, "coverage_beta": 0.0},
        "GNMT alpha=1.0": {**gnmt, "length_alpha": 1.0, "coverage_beta": 0.0},
        "GNMT beta=0.2": {**gnmt, "length_alpha": 0.0, "coverage_beta": 0.2},
        "GNMT beta=0.4": {**gnmt, "length_alpha": 0.0, "coverage_beta": 0.4},
        "GNMT alpha=0.6 beta=0.2": {**gnmt, "length_alpha": 0.6, "coverage_beta": 0.2},
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a trained model folder")
    parser.add_argument("--dataset", default="../shared/data/multi30k")
    parser.add_argument("--source-lang", default="de")
    parser.add_argument("--target-lang", default="en")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--num-beams", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--only", nargs="*", default=None, help="names of the settings to run")
    args = parser.parse_args(argv)

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model).eval()
    data = load_translation(args.dataset, args.source_lang, args.target_lang, required_splits=(args.split,))
    sources, references = list(data[args.split]["source"]), list(data[args.split]["target"])
    lowercased_tokenized = tokenized_references(args.dataset, args.split, args.target_lang, references)
    bleu = load_metric("bleu")

    results = []
    for name, kwargs in settings(args.num_beams).items():
        if args.only and name not in args.only:
            continue
        kwargs = dict(kwargs)
        num_beams = kwargs.pop("num_beams")
        started = time.perf_counter()
        predictions = predict_texts(model, tokenizer, sources, args.max_new_tokens, num_beams, **kwargs)
        seconds = time.perf_counter() - started
        result = {
            "setting": name,
            "bleu": round(bleu.compute(predictions=predictions, references=references)["score"], 2),
            "bleu_lowercased_tokenized": round(tokenized_bleu(predictions, lowercased_tokenized, args.target_lang), 2),
            "mean_words": round(sum(len(text.split()) for text in predictions) / len(predictions), 2),
            "seconds": round(seconds, 1),
        }
        results.append(result)
        print(json.dumps(result), flush=True)

    reference_words = sum(len(text.split()) for text in references) / len(references)
    lines = [f"Beam-search scoring on `{args.split}` ({args.source_lang}->{args.target_lang}, {len(sources)} "
             f"sentences, beam {args.num_beams}, model `{args.model}`; references average {reference_words:.2f} "
             "words):", ""]
    table = "\n".join(lines + scoring_table(results))
    print(table)
    (args.model.parent / "beam_scoring.md").write_text(table + "\n")
    (args.model.parent / "beam_scoring.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
