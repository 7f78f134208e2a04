"""Export a trained model folder to ONNX, for ONNX Runtime.

    python -m training.export outputs/date-attention/model outputs/date-onnx [--no-int8]

Writes `encoder.onnx` and `decoder_step.onnx` (dynamic batch size and source length), their int8 twins (ONNX
Runtime's dynamic quantization), the config, generation config and tokenizer, then checks that ONNX Runtime's output
equals PyTorch's on the model's showcase inputs (`metrics.json`) with the same search (the model's beam size, GNMT
scoring on both sides for beam search) and prints them. The output folder must be new, empty or an earlier export;
`--overwrite` writes the export's files into any other folder, leaving its other files as they are. Load the result
with `hf_attn_seq2seq.onnx.runtime.OnnxAttnSeq2Seq.from_pretrained(OUT)`. Needs `pip install "hf_attn_seq2seq[onnx]"`.
"""

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a model folder (training.train's <output-dir>/model) or any saved model")
    parser.add_argument("output", help="the folder to write: new, empty, or an earlier export (then replaced whole)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a folder that holds other files: the export's files replace those of the "
                             "same names, nothing else is touched")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 graphs")
    args = parser.parse_args(argv)
    try:
        from transformers import AutoModelForSeq2SeqLM

        import hf_attn_seq2seq  # noqa: F401  (registers the model with the Auto classes)
        from hf_attn_seq2seq import AttnSeq2SeqConfig
        from hf_attn_seq2seq.data.tokenization import load_tokenizer
        from hf_attn_seq2seq.hub import saved_model_type
        from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import gnmt_beam_search
        from hf_attn_seq2seq.onnx.export import export_onnx
        from hf_attn_seq2seq.onnx.runtime import OnnxAttnSeq2Seq, check_onnx_available

        check_onnx_available()
        source = Path(args.folder)
        if not source.is_dir():
            raise FileNotFoundError(f"{source}: no such folder.")
        model_type = saved_model_type(source)
        if model_type != AttnSeq2SeqConfig.model_type:
            raise ValueError(f"{source} holds a {model_type!r} model; the ONNX export takes attn_seq2seq models.")
        output = Path(args.output)
        if output.resolve() == source.resolve() or source.resolve().is_relative_to(output.resolve()):
            raise ValueError(f"{output} would replace the model folder {source}; write the export elsewhere.")
        tokenizer = load_tokenizer(source)
        model = AutoModelForSeq2SeqLM.from_pretrained(source).eval()
        start = time.perf_counter()
        export_onnx(model, tokenizer, output, int8=not args.no_int8, overwrite=args.overwrite)
        print(f"exported {source} to {output} in {time.perf_counter() - start:.1f} s")
        examples = []
        if (source / "metrics.json").is_file():
            examples = list(json.loads((source / "metrics.json").read_text()).get("examples") or {})
        if examples:
            runner = OnnxAttnSeq2Seq.from_pretrained(output)
            encoded = tokenizer(examples, return_tensors="pt", padding=True)
            # like with like: the runner's beam search is GNMT's, so PyTorch's runs the same loop and scoring
            search = {"length_alpha": 0.0, "coverage_beta": 0.0}
            num_beams = model.generation_config.num_beams or 1
            beam = {"custom_generate": gnmt_beam_search, **search} if num_beams > 1 else {}
            expected = tokenizer.batch_decode(model.generate(**encoded, num_beams=num_beams, **beam),
                                              skip_special_tokens=True)
            got = [result["translation_text"]
                   for result in runner(examples, num_beams=num_beams, **(search if num_beams > 1 else {}))]
            for text, ours, theirs in zip(examples, got, expected):
                print(f"{text!r:>40} -> {ours}{'' if ours == theirs.strip() else f'   (PyTorch: {theirs})'}")
            if got != [text.strip() for text in expected]:
                print("warning: ONNX Runtime and PyTorch differ on the inputs above", file=sys.stderr)
                return 1
    except (ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
