"""Speed of the package before and after a change of its code, side by side in one run (RESULTS.md, section 13).

    python -m benchmarks.layout_speed                       # against 06db01b, before the decoder-step redesign
    python -m benchmarks.layout_speed --before <commit> --rounds 5

The commit's files are unpacked into a temporary folder; each round runs the same measuring script once on the old
tree and once on the working tree, each in its own one-thread process (`PYTHONPATH` picks the tree), alternating so
that drifts in the machine's speed reach both alike. Figures are medians over rounds; each ratio is after / before.

Measured, on the date model that `make train` writes (`--model`) and on a GNMT-layout model of the `gnmt` preset's
shape with random weights (input feeding, 4+4 layers, attention at the bottom): time per generated token with greedy
search and GNMT beam search (5 beams) at batch 1 and 64, every row made to run to the length limit; one training
step (forward, backward, Adam) at batch 64; and ONNX Runtime against PyTorch on the date test split: the share of
sources whose greedy ids are the same, and the time per token of both.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent
BEFORE = "06db01b"
RESULT_MARK = "LAYOUT_SPEED_RESULT "


# ------------------------------------------------------------------------------------------------------------------
# The measuring script: it runs in the tree it is given and uses only what both trees offer
# ------------------------------------------------------------------------------------------------------------------


def _median_seconds(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _flat_layout() -> bool:
    """Whether the imported package is the flat layout from before the redesign (its files side by side)."""
    import hf_attn_seq2seq

    return (Path(hf_attn_seq2seq.__file__).parent / "beam_search.py").is_file()


def _onnx_modules():
    if _flat_layout():
        from hf_attn_seq2seq.export import export_onnx
        from hf_attn_seq2seq.onnx_runtime import OnnxAttnSeq2Seq
    else:
        from hf_attn_seq2seq.onnx.export import export_onnx
        from hf_attn_seq2seq.onnx.runtime import OnnxAttnSeq2Seq
    return export_onnx, OnnxAttnSeq2Seq


def _generation_speed(model, sources: list[str] | None, tokenizer, new_tokens: int) -> dict:
    import torch

    results = {}
    for batch_size in (1, 64):
        if sources is None:
            generator = torch.Generator().manual_seed(batch_size)
            input_ids = torch.randint(3, model.config.vocab_size, (batch_size, 20), generator=generator)
            inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        else:
            inputs = dict(tokenizer(sources[:batch_size], return_tensors="pt", padding=True))
        for beams in (1, 5):
            # no end token: every row runs to the length limit, so both trees make the same number of tokens
            settings = dict(max_new_tokens=new_tokens) if beams == 1 else dict(
                max_new_tokens=new_tokens, num_beams=5, custom_generate=_gnmt_beam_search())
            saved = model.generation_config.eos_token_id
            model.generation_config.eos_token_id = None
            try:
                run = lambda inputs=inputs, settings=settings: model.generate(**inputs, **settings)  # noqa: E731
                seconds = _median_seconds(run, repeats=3 if beams > 1 else 5)
            finally:
                model.generation_config.eos_token_id = saved
            results[f"{'greedy' if beams == 1 else 'beam 5'}, batch {batch_size}"] = (
                seconds / (batch_size * new_tokens))
    return results


def _gnmt_beam_search():
    if _flat_layout():
        from hf_attn_seq2seq.beam_search import gnmt_beam_search
    else:
        from hf_attn_seq2seq import gnmt_beam_search
    return gnmt_beam_search


def _training_step(model, tokenizer, sources: list[str], targets: list[str] | None) -> float:
    import torch

    model.train()
    torch.manual_seed(0)
    if targets is None:
        input_ids = torch.randint(3, model.config.vocab_size, (64, 20), generator=torch.Generator().manual_seed(0))
        batch = {"input_ids": input_ids, "labels": input_ids.clone()}
    else:
        batch = dict(tokenizer(sources[:64], text_target=targets[:64], return_tensors="pt", padding=True))
        batch["labels"] = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()

    seconds = _median_seconds(step, repeats=9)
    model.eval()
    return seconds


def _onnx_equality(model, tokenizer, sources: list[str], new_tokens: int, folder: Path) -> dict:
    import torch

    export_onnx, OnnxAttnSeq2Seq = _onnx_modules()
    export_onnx(model, tokenizer, folder, int8=False)
    runner = OnnxAttnSeq2Seq.from_pretrained(folder, num_threads=1)
    same = total = 0
    torch_seconds = onnx_seconds = 0.0
    tokens = 0
    for start in range(0, len(sources), 64):
        inputs = tokenizer(sources[start : start + 64], return_tensors="pt", padding=True)
        started = time.perf_counter()
        expected = model.generate(**inputs, max_new_tokens=new_tokens)
        torch_seconds += time.perf_counter() - started
        started = time.perf_counter()
        got = runner.generate(inputs["input_ids"], inputs["attention_mask"], max_new_tokens=new_tokens)
        onnx_seconds += time.perf_counter() - started
        same += sum(torch.equal(a, b) for a, b in zip(expected, got)) if expected.shape == got.shape else 0
        total += len(expected)
        tokens += expected.numel()
    return {"onnx_same_ids": same / total, "onnx_sources": total, "onnx_seconds_per_token": onnx_seconds / tokens,
            "torch_seconds_per_token_test_split": torch_seconds / tokens}


def measure(model_folder: Path, test_sources: list[str], test_targets: list[str], onnx_folder: Path) -> dict:
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from hf_attn_seq2seq import AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration

    if _flat_layout():
        from hf_attn_seq2seq.tokenization import load_tokenizer
    else:
        from hf_attn_seq2seq.data.tokenization import load_tokenizer

    torch.set_num_threads(1)
    date_model = AutoModelForSeq2SeqLM.from_pretrained(model_folder).eval()
    tokenizer = load_tokenizer(model_folder)
    torch.manual_seed(0)
    gnmt = AttnSeq2SeqForConditionalGeneration(AttnSeq2SeqConfig(
        vocab_size=200, attention="additive", attention_layer="bottom", input_feeding=True, bidirectional=True,
        residual=True, encoder_layers=4, decoder_layers=4, embedding_size=128, hidden_size=256)).eval()
    results = {}
    for name, value in _generation_speed(date_model, test_sources, tokenizer, new_tokens=10).items():
        results[f"date model: {name}"] = value
    for name, value in _generation_speed(gnmt, None, None, new_tokens=20).items():
        results[f"GNMT layout: {name}"] = value
    results["date model: training step, batch 64"] = _training_step(date_model, tokenizer, test_sources, test_targets)
    results["GNMT layout: training step, batch 64"] = _training_step(gnmt, None, test_sources, None)
    results.update(_onnx_equality(date_model, tokenizer, test_sources, 10, onnx_folder))
    return results


def worker(model_folder: Path, data_file: Path) -> None:
    import hf_attn_seq2seq

    data = json.loads(data_file.read_text())
    with tempfile.TemporaryDirectory() as folder:
        results = measure(model_folder, data["source"], data["target"], Path(folder) / "onnx")
    results["package"] = str(Path(hf_attn_seq2seq.__file__).parent)
    print(RESULT_MARK + json.dumps(results), flush=True)


# ------------------------------------------------------------------------------------------------------------------
# The side-by-side run
# ------------------------------------------------------------------------------------------------------------------


def unpack(commit: str, into: Path) -> Path:
    archive = into / "before.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), commit], check=True)
    tree = into / "before"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def run_worker(tree: Path, model_folder: Path, data_file: Path) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                   "HF_DATASETS_OFFLINE": "1"}
    # this file, run as a script: the old tree has no copy of it
    completed = subprocess.run([sys.executable, __file__, "--worker", str(model_folder), str(data_file)], cwd=tree,
                               env=environment, capture_output=True, text=True)
    return worker_results(completed, tree, RESULT_MARK)


def worker_results(completed: subprocess.CompletedProcess, tree: Path, mark: str) -> dict:
    """The figures a measuring process printed after `mark`, checked to come from the package in `tree`."""
    for line in completed.stdout.splitlines():
        if line.startswith(mark):
            results = json.loads(line[len(mark):])
            if Path(results.pop("package")).resolve() != (tree / "hf_attn_seq2seq").resolve():
                raise SystemExit(f"the measuring process did not import the package from {tree}")
            return results
    raise SystemExit(f"the measuring process in {tree} failed:\n{completed.stderr[-3000:]}")


def test_split(count: int) -> tuple[list[str], list[str]]:
    """The date task's own test split, as `make train` builds it (the first `count` rows)."""
    from hf_attn_seq2seq.data import load_task

    data = load_task("date", num_examples=150000)
    return list(data["test"]["source"][:count]), list(data["test"]["target"][:count])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--model", type=Path, default=REPO / "outputs/date-attention/model",
                        help="the date model folder (default: make train's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--test-rows", type=int, default=1024, help="rows of the date test split for the ONNX check")
    args = parser.parse_args(argv)
    if not (args.model / "config.json").is_file():
        raise SystemExit(f"{args.model} holds no model: run `make train` first.")
    sources, targets = test_split(args.test_rows)
    runs = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        trees = {"before": unpack(args.before, scratch), "after": REPO}
        data_file = scratch / "test.json"
        data_file.write_text(json.dumps({"source": sources, "target": targets}))
        for round_index in range(args.rounds):
            for side in ("before", "after") if round_index % 2 == 0 else ("after", "before"):
                runs[side].append(run_worker(trees[side], args.model.resolve(), data_file))
                print(side, round_index, runs[side][-1], flush=True)
    report = {"before": args.before, "rounds": args.rounds, "test_rows": len(sources), "figures": {}}
    for name in runs["before"][0]:
        before = statistics.median(run[name] for run in runs["before"])
        after = statistics.median(run[name] for run in runs["after"])
        report["figures"][name] = {"before": before, "after": after, "ratio": after / before if before else None}
    LAYOUT_SPEED_PATH.write_text(json.dumps(report, indent=2) + "\n")
    rewrite_results()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        from benchmarks.report import LAYOUT_SPEED_PATH, rewrite_results

        main()
