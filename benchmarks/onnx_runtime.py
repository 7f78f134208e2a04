"""ONNX Runtime beside PyTorch: same outputs, and how much faster (RESULTS.md section 9).

    python -m benchmarks.onnx_runtime --date outputs/date-attention/model \\
        --translation outputs/mt-en-de/model --translation-data ../shared/data/multi30k --source-lang en

The model folders are exported (`export_onnx`, fp32 and int8) into `outputs/onnx/`. Then, for the date model (the
main job's) on all 2,500 test dates and for the translation model on the Multi30k test_2016 sources:

- equality: ONNX Runtime greedy against PyTorch `generate`, and beam 5 (GNMT search, the translation preset's alpha)
  against `generate(custom_generate=gnmt_beam_search)` with the same settings; int8 exact match on the date task;
- speed: time per generated token at batch 1 and throughput at batch 64, PyTorch `generate` against ONNX Runtime fp32
  and int8, with 1 and 2 threads, each pair timed in alternation; and where ONNX Runtime's time goes at batch 1.
"""

import argparse
import gzip
import json
import time
from pathlib import Path

import torch


ONNX_PATH = Path(__file__).with_name("ONNX.json")


def load(folder: str):
    from transformers import AutoModelForSeq2SeqLM

    import hf_attn_seq2seq  # noqa: F401
    from hf_attn_seq2seq.data.tokenization import load_tokenizer

    return AutoModelForSeq2SeqLM.from_pretrained(folder).eval(), load_tokenizer(folder)


def in_batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def torch_outputs(model, tokenizer, sources: list[str], batch_size: int = 100, **settings) -> list[str]:
    from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import gnmt_beam_search

    if settings.get("num_beams", 1) > 1:
        settings["custom_generate"] = gnmt_beam_search
    outputs = []
    for batch in in_batches(sources, batch_size):
        encoded = tokenizer(batch, return_tensors="pt", padding=True, truncation=True)
        with torch.no_grad():
            ids = model.generate(**encoded, **settings)
        outputs += [text.strip() for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]
    return outputs


def onnx_outputs(runner, tokenizer, sources: list[str], batch_size: int = 100, **settings) -> list[str]:
    outputs = []
    for batch in in_batches(sources, batch_size):
        encoded = tokenizer(batch, return_tensors="np", padding=True, truncation=True)
        ids = runner.generate(encoded["input_ids"], encoded["attention_mask"], **settings)
        outputs += [text.strip() for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]
    return outputs


def agreement(name: str, sources, ours: list[str], theirs: list[str], references=None) -> dict:
    same = [a == b for a, b in zip(ours, theirs)]
    record = {"inputs": len(sources), "equal": sum(same), "equal_percent": round(100 * sum(same) / len(same), 3)}
    record["differences"] = [{"source": s, "onnx": a, "pytorch": b}
                             for s, a, b, equal in zip(sources, ours, theirs, same) if not equal][:5]
    if references is not None:
        record["onnx_exact_match"] = round(100 * sum(a == r for a, r in zip(ours, references)) / len(ours), 3)
        record["pytorch_exact_match"] = round(100 * sum(b == r for b, r in zip(theirs, references)) / len(ours), 3)
    print(name, {k: v for k, v in record.items() if k != "differences"}, flush=True)
    return record


def equality(model, tokenizer, folder: Path, sources, references, beam_settings: dict, batch_size: int) -> dict:
    from hf_attn_seq2seq.onnx.runtime import OnnxAttnSeq2Seq

    fp32, int8 = OnnxAttnSeq2Seq(folder), OnnxAttnSeq2Seq(folder, precision="int8")
    greedy = dict(num_beams=1)
    reference_greedy = torch_outputs(model, tokenizer, sources, batch_size, **greedy)
    results = {
        "greedy": agreement("greedy", sources, onnx_outputs(fp32, tokenizer, sources, batch_size, **greedy),
                            reference_greedy, references),
        "beam": agreement("beam", sources, onnx_outputs(fp32, tokenizer, sources, batch_size, **beam_settings),
                          torch_outputs(model, tokenizer, sources, batch_size, **beam_settings), references),
        "int8_greedy": agreement("int8 greedy", sources, onnx_outputs(int8, tokenizer, sources, batch_size,
                                                                      **greedy), reference_greedy, references),
        "beam_settings": beam_settings,
    }
    return results


def speed(model, tokenizer, folder: Path, sources: list[str], max_new_tokens: int) -> dict:
    from benchmarks.run import interleaved_median_seconds
    from hf_attn_seq2seq.onnx.runtime import OnnxAttnSeq2Seq

    original_threads = torch.get_num_threads()
    table = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        runners = {precision: OnnxAttnSeq2Seq(folder, precision=precision, num_threads=threads)
                   for precision in ("fp32", "int8")}
        for batch_size, count in ((1, 64), (64, 256)):
            batches = [tokenizer(batch, return_tensors="pt", padding=True)
                       for batch in in_batches(sources[:count], batch_size)]
            # every runtime generates the same number of tokens: the PyTorch greedy output's
            with torch.no_grad():
                tokens = sum(int((model.generate(**b, max_new_tokens=max_new_tokens)[:, 1:]
                                  != tokenizer.pad_token_id).sum()) for b in batches)

            def pytorch(batches=batches):
                with torch.no_grad():
                    for batch in batches:
                        model.generate(**batch, max_new_tokens=max_new_tokens)

            def runtime(precision, batches=batches, runners=runners):
                def run():
                    for batch in batches:
                        runners[precision].generate(batch["input_ids"], batch["attention_mask"],
                                                    max_new_tokens=max_new_tokens)
                return run

            seconds = interleaved_median_seconds({"pytorch": pytorch, "onnx_fp32": runtime("fp32"),
                                                  "onnx_int8": runtime("int8")}, repeats=5 if batch_size == 1 else 7)
            row = {"threads": threads, "batch_size": batch_size, "sequences": count, "tokens": tokens}
            for name, value in seconds.items():
                row[f"{name}_ms_per_token"] = 1e3 * value / tokens
                row[f"{name}_tokens_per_second"] = tokens / value
            row["fp32_speedup"] = seconds["pytorch"] / seconds["onnx_fp32"]
            row["int8_speedup"] = seconds["pytorch"] / seconds["onnx_int8"]
            table[f"{threads} thread(s), batch {batch_size}"] = row
            print(threads, batch_size, {k: round(v, 3) for k, v in row.items()}, flush=True)
    torch.set_num_threads(original_threads)
    return table


def where_time_goes(tokenizer, folder: Path, sources: list[str], max_new_tokens: int, batch_size: int = 1) -> dict:
    """ONNX Runtime (fp32, one thread): the encoder call, the decoder-step calls, and the search loop around them
    (Python and numpy), per batch of `batch_size` sequences."""
    from hf_attn_seq2seq.onnx.runtime import OnnxAttnSeq2Seq

    runner = OnnxAttnSeq2Seq(folder, num_threads=1)
    encoded = [tokenizer(batch, return_tensors="np", padding=True)
               for batch in in_batches(sources[: 64 * batch_size], batch_size)][: 64 if batch_size == 1 else 8]
    spent = {"encoder": 0.0, "decoder_steps": 0.0, "steps": 0}
    encode, step = runner.encode, runner.step

    def timed_encode(*args):
        start = time.perf_counter()
        result = encode(*args)
        spent["encoder"] += time.perf_counter() - start
        return result

    def timed_step(*args):
        start = time.perf_counter()
        result = step(*args)
        spent["decoder_steps"] += time.perf_counter() - start
        spent["steps"] += 1
        return result

    runner.encode, runner.step = timed_encode, timed_step
    for item in encoded[:2]:  # warm-up
        runner.generate(item["input_ids"], item["attention_mask"], max_new_tokens=max_new_tokens)
    spent.update(encoder=0.0, decoder_steps=0.0, steps=0)
    start = time.perf_counter()
    for item in encoded:
        runner.generate(item["input_ids"], item["attention_mask"], max_new_tokens=max_new_tokens)
    total = time.perf_counter() - start
    count = len(encoded)
    return {"batch_size": batch_size, "sequence_ms": 1e3 * total / count, "encoder_ms": 1e3 * spent["encoder"] / count,
            "decoder_steps_ms": 1e3 * spent["decoder_steps"] / count,
            "loop_ms": 1e3 * (total - spent["encoder"] - spent["decoder_steps"]) / count,
            "steps_per_sequence": spent["steps"] / count,
            "step_us": 1e6 * spent["decoder_steps"] / max(spent["steps"], 1)}


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", default="outputs/date-attention/model", help="the main job's model folder")
    parser.add_argument("--translation", default=None, help="a Multi30k model folder")
    parser.add_argument("--translation-data", type=Path, default=Path("../shared/data/multi30k"))
    parser.add_argument("--source-lang", default="en")
    parser.add_argument("--test-split", default="test_2016_flickr")
    parser.add_argument("--length-alpha", type=float, default=0.6, help="GNMT alpha of the translation beam search "
                        "(the translation preset's)")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)

    from hf_attn_seq2seq.data.tasks import load_task
    from hf_attn_seq2seq.onnx.export import export_onnx

    data = json.loads(ONNX_PATH.read_text()) if ONNX_PATH.exists() else {}
    model, tokenizer = load(args.date)
    start = time.perf_counter()
    date_folder = export_onnx(model, tokenizer, Path("outputs/onnx/date"))
    data["date"] = {"folder": args.date, "export_seconds": round(time.perf_counter() - start, 1)}
    test = load_task("date")["test"]
    sources, references = list(test["source"]), list(test["target"])
    max_new_tokens = model.generation_config.max_new_tokens
    data["date"]["equality"] = equality(model, tokenizer, date_folder, sources, references, {"num_beams": 5}, 250)
    if not args.skip_speed:
        data["date"]["speed"] = speed(model, tokenizer, date_folder, sources, max_new_tokens)
        data["date"]["where_time_goes"] = [where_time_goes(tokenizer, date_folder, sources, max_new_tokens, size)
                                           for size in (1, 64)]
        print("where", data["date"]["where_time_goes"], flush=True)

    if args.translation:
        model, tokenizer = load(args.translation)
        folder = export_onnx(model, tokenizer, Path("outputs/onnx/translation"))
        path = args.translation_data / f"{args.test_split}.{args.source_lang}.gz"
        if not path.exists():
            path = path.with_suffix("")
        sources = read_lines(path)
        alpha = args.length_alpha
        data["translation"] = {"folder": args.translation, "split": args.test_split, "source_lang": args.source_lang,
                               "equality": equality(model, tokenizer, folder, sources, None,
                                                    {"num_beams": 5, "length_alpha": alpha}, 100)}
    ONNX_PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    from benchmarks.report import rewrite_results

    rewrite_results()
    return data


if __name__ == "__main__":
    main()
