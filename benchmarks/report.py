"""benchmarks/RESULTS.md, rendered from what the benchmarks recorded: RESULTS.json (`benchmarks.run`),
TRANSLATION.json (`benchmarks.translation`), TOY_TASKS.json (`benchmarks.toy_tasks`), DEMO.json (`benchmarks.demo`),
ONNX.json (`benchmarks.onnx_runtime`), NTM_COPY.json (`benchmarks.ntm_copy`), FINE_TUNING.json
(`benchmarks.fine_tuning`), DATE_LANGUAGES.json (`benchmarks.date_languages`), LAYOUT_SPEED.json
(`benchmarks.layout_speed`), TRANSLATION_SWEEP.json (`benchmarks.translation_sweep`), NTM_PAPER_TASKS.json
(`benchmarks.ntm_paper_tasks`), NTM_STEP.json (`benchmarks.ntm_step`) and NTM_COMPILED_STEP.json
(`benchmarks.ntm_step --compiled`). Every benchmark writes its JSON and calls `write_results`; this module imports none
of them."""

import json
import platform
from pathlib import Path

import torch
import transformers

from hf_attn_seq2seq.presets import load_preset


RESULTS_PATH = Path(__file__).with_name("RESULTS.md")
TRANSLATION_PATH = Path(__file__).with_name("TRANSLATION.json")
TOY_TASKS_PATH = Path(__file__).with_name("TOY_TASKS.json")
DEMO_PATH = Path(__file__).with_name("DEMO.json")
ONNX_PATH = Path(__file__).with_name("ONNX.json")
NTM_COPY_PATH = Path(__file__).with_name("NTM_COPY.json")
FINE_TUNING_PATH = Path(__file__).with_name("FINE_TUNING.json")
DATE_LANGUAGES_PATH = Path(__file__).with_name("DATE_LANGUAGES.json")
LAYOUT_SPEED_PATH = Path(__file__).with_name("LAYOUT_SPEED.json")
TRANSLATION_SWEEP_PATH = Path(__file__).with_name("TRANSLATION_SWEEP.json")
NTM_PAPER_TASKS_PATH = Path(__file__).with_name("NTM_PAPER_TASKS.json")
NTM_STEP_PATH = Path(__file__).with_name("NTM_STEP.json")
NTM_COMPILED_STEP_PATH = Path(__file__).with_name("NTM_COMPILED_STEP.json")
PUBLISHED = ("BLEU 28.3 on test 2016 de→en (lowercased tokenized) for a bidirectional-GRU encoder with Bahdanau "
             "attention, 20.5M parameters, trained on a GPU")



def rewrite_results() -> str:
    """RESULTS.md again from the recorded RESULTS.json (and the other benchmarks' JSON files): what a benchmark that
    records its own file calls at the end."""
    results = json.loads(RESULTS_PATH.with_suffix(".json").read_text())
    command = results.pop("command", "python -m benchmarks.run")
    return write_results(results, command)


def write_results(results: dict, command: str) -> str:
    lines = ["# Benchmark results", "",
             f"Command: `{command}`  ", f"Machine: {platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} threads; torch {torch.__version__}, transformers {transformers.__version__}, "
             f"Python {platform.python_version()}.", ""]
    if "remeasured" in results:
        again = results["remeasured"]
        lines[-1:-1] = [f"Re-measured with `{again['command']}`: {', '.join(again['sections'])}."]
    if "training" in results:
        r = results["training"]
        lines += ["## 1. Training throughput (attention preset, date task, batch 128, hidden 256)", "",
                  "| runner | target tokens / s (median) |", "|---|---|",
                  f"| Seq2SeqTrainer | {r['trainer_tokens_per_second']:,.0f} |",
                  f"| plain PyTorch loop | {r['loop_tokens_per_second']:,.0f} |", "",
                  f"Trainer overhead: **{100 * r['trainer_overhead']:+.1f}%** (goal ≤ 10%): the median over "
                  f"{r.get('rounds', 1)} interleaved pairs of runs of {r['timed_steps']} timed steps after warm-up "
                  "(per pair: " + ", ".join(f"{100 * o:+.1f}%" for o in r.get("round_overheads", [])) + ")."]
        if "optimizer" in r:
            lines[-1] += (f" Both sides use {r['optimizer']} (the Trainer's default, which the loop builds through "
                          "`Trainer.get_optimizer_cls_and_kwargs`) and collate each batch on the fly through a "
                          "DataLoader, in the same order.")
        else:
            lines[-1] += (" Recorded when the loop used the default (foreach) AdamW and pre-collated batches; `make "
                          "bench` now gives it the Trainer's fused AdamW and on-the-fly collation.")
        lines.append("")
    if "accuracy" in results:
        r = results["accuracy"]
        reached = (f"**{r['seconds']:.0f} s** (step {r['step']}, {r['exact_match']:.2f}%)" if "seconds" in r
                   else "not reached")
        split = r.get("stop_split", "test")
        lines += ["## 2. Time to accuracy", "",
                  f"Main job configuration, evaluating the {split} split every {r['eval_steps']} steps: first reached "
                  f"{r['target']}% exact match after {reached}, evaluation time included."]
        if "test_exact_match" in r:
            lines[-1] += f" The test split at that step: **{r['test_exact_match']:.2f}%**."
        elif split == "test":
            lines[-1] += " (Recorded when the test split decided the stop; `make bench` now stops on validation.)"
        lines.append("")
    if "fast" in results:
        r = results["fast"]
        lines += ["### Time to accuracy: the `fast` preset against the book's model", "",
                  "Both trained on the main job's data until validation exact match reaches 99.9% (read every 12,800 "
                  "training examples, evaluation time included), then scored on test, in the same run.", "",
                  "| model | settings | step | seconds | validation | test |", "|---|---|---|---|---|---|"]
        for name, label in (("book", "the book's model (baseline)"), ("fast", "`--preset fast`")):
            e = r[name]
            settings = ", ".join(f"{k} {v}" for k, v in {**e["settings"]["model"],
                                                        **e["settings"]["training"]}.items())
            if "seconds" in e:
                lines.append(f"| {label} | {settings} | {e['step']} | **{e['seconds']:.0f}** | "
                             f"{e['exact_match']:.2f}% | {e['test_exact_match']:.2f}% |")
            else:
                lines.append(f"| {label} | {settings} | — | not reached | — | — |")
        if "time_ratio" in r:
            lines += ["", f"The fast preset needs **{r['time_ratio']:.2f}x** the baseline's time (goal ≤ 0.20x)."]
        lines.append("")
    if "generation" in results:
        r = results["generation"]
        lines += ["## 3. Generation", "",
                  "| setting | generate() seq/s | hand-written loop seq/s | time ratio | transformers' loop ratio |",
                  "|---|---|---|---|---|"]
        for label in ("greedy, batch 1", "greedy, batch 64", "beam 5, batch 16"):
            e = r[label]
            hand = f"{e['hand_sequences_per_second']:,.1f}" if "ratio" in e else "—"
            ratio = f"{e['ratio']:.2f}x" if "ratio" in e else "—"
            general = f"{e['general_loop_ratio']:.2f}x" if "general_loop_ratio" in e else "—"
            lines.append(f"| {label} | {e['sequences_per_second']:,.1f} | {hand} | {ratio} | {general} |")
        per_token = r["seconds_per_token"]
        lines += ["", "Goals: ≤ 1.3x at batch 1, ≤ 1.1x at batch 64 (both generate the same tokens). Plain greedy "
                  "calls of `generate()` run the model's direct loop over decoder steps; the last column times "
                  "transformers' general loop (`GenerationMixin.generate`), which sampling, beam search and every "
                  "call with processors or dict outputs go through, against the same hand-written loop.", "",
                  "| output length | ms per token (greedy, batch 1) |", "|---|---|"]
        lines += [f"| {length} | {1000 * seconds:.3f} |" for length, seconds in per_token.items()]
        lines += ["", f"Length 256 against length 16: **{r['per_token_ratio_256_vs_16']:.2f}x** per token "
                      "(goal ≤ 1.2x: flat means O(1) work per step).", ""]
        if "onednn" not in r:
            lines += ["These generation figures were recorded while the decoder still switched oneDNN off itself for "
                      "inference steps at batch ≤ 32. It no longer does (a process-wide switch, section 5), so they "
                      "hold for an application that sets `torch.backends.mkldnn.enabled = False`; `make bench` "
                      "re-measures them with the process's own setting.", ""]
    int8_rows = [(name, results[name]) for name in ("int8", "int8_large") if name in results]
    if int8_rows:
        lines += ["## 4. int8 (dynamic quantization of LSTM and Linear, `torch.ao.quantization.quantize_dynamic`)", "",
                  "Decode time: `generate()` of one test source at batch 1, fp32 and int8 timed in alternation.", "",
                  "| date model | parameters | fp32 decode ms | int8 decode ms | speed-up (goal ≥ 2x) | "
                  "fp32 exact match | int8 exact match | change (goal ≥ -0.1) |", "|---|---|---|---|---|---|---|---|"]
        for name, r in int8_rows:
            label = ("the main job's configuration (hidden 256), trained in section 2" if name == "int8"
                     else f"hidden {r['hidden_size']}")
            lines.append(f"| {label} | {r.get('parameters', 0):,} | {1e3 * r['fp32_seconds_batch1']:.2f} | "
                         f"{1e3 * r['int8_seconds_batch1']:.2f} | **{r['speedup']:.2f}x** | "
                         f"{r['fp32_exact_match']:.2f}% | {r['int8_exact_match']:.2f}% | "
                         f"{r['int8_exact_match'] - r['fp32_exact_match']:+.2f} points |")
        lines.append("")
        if "int8_large" in results:
            r = results["int8_large"]
            reached = r["time_to_accuracy"]
            trained = (f"reached {reached['exact_match']:.2f}% {reached.get('stop_split', 'test')} exact match at "
                       f"step {reached['step']} ({reached['seconds']:.0f} s)" if "seconds" in reached
                       else "did not reach 99.9%")
            lines += [f"The hidden-{r['hidden_size']} model trains with the main job's recipe at learning rate "
                      f"{r['learning_rate']:g} and {trained}. At hidden 256 a decoder step's weights (about 1 MB) "
                      "sit in the CPU caches and the step is bound by per-operation overhead: with oneDNN off, fp32 "
                      "and int8 decode about alike (0.88x in the run before the decoder stopped switching oneDNN "
                      "off itself); with oneDNN on, the process default under which the hidden-256 row was measured, "
                      "fp32 takes oneDNN's slower small-batch LSTM path while the int8 LSTM does not use oneDNN, "
                      "which is where that row's gain comes from. At hidden 1024 (about 17 MB of LSTM weights per "
                      "step) fp32 is bound by memory traffic, which int8 cuts by four; that row is from the earlier "
                      "full run, with oneDNN off during decoding.", ""]
        lines += [f"save_pretrained of a quantized model: {int8_rows[0][1]['save']}", ""]
    if "threads" in results:
        r = results["threads"]
        fastest = min((name for name in r if not name.startswith("batch 64")), key=r.get)
        lines += ["## 5. Threads and oneDNN (one decoder step)", "", "| setting | µs per step |",
                  "|---|---|"]
        lines += [f"| {setting if setting.startswith('batch') else 'batch 1, ' + setting} | {1e6 * seconds:.0f} |"
                  for setting, seconds in r.items()]
        lines += ["", f"Fastest at batch 1: {fastest}. Both switches are process-wide, so the model changes "
                  "neither: an application that serves small batches on CPU sets "
                  "`torch.backends.mkldnn.enabled = False` and `torch.set_num_threads(...)` itself (README, "
                  "Performance).", ""]
    if TRANSLATION_PATH.exists():  # recorded from full training runs by benchmarks.translation
        lines += translation_section(json.loads(TRANSLATION_PATH.read_text()))
    if TOY_TASKS_PATH.exists():  # recorded from full training runs by benchmarks.toy_tasks
        lines += toy_tasks_section(json.loads(TOY_TASKS_PATH.read_text()))
    if DEMO_PATH.exists():  # recorded in a browser by benchmarks.demo
        lines += demo_section(json.loads(DEMO_PATH.read_text()))
    if ONNX_PATH.exists():  # recorded by benchmarks.onnx_runtime
        lines += onnx_section(json.loads(ONNX_PATH.read_text()))
    if NTM_COPY_PATH.exists():  # recorded by benchmarks.ntm_copy
        lines += ntm_copy_section(json.loads(NTM_COPY_PATH.read_text()))
    if FINE_TUNING_PATH.exists():  # recorded by benchmarks.fine_tuning
        lines += fine_tuning_section(json.loads(FINE_TUNING_PATH.read_text()))
    if DATE_LANGUAGES_PATH.exists():  # recorded by benchmarks.date_languages
        lines += date_languages_section(json.loads(DATE_LANGUAGES_PATH.read_text()))
    if LAYOUT_SPEED_PATH.exists():  # recorded by benchmarks.layout_speed
        lines += layout_speed_section(json.loads(LAYOUT_SPEED_PATH.read_text()))
    if NTM_PAPER_TASKS_PATH.exists():  # recorded by benchmarks.ntm_paper_tasks
        lines += ntm_paper_tasks_section(json.loads(NTM_PAPER_TASKS_PATH.read_text()))
    if NTM_STEP_PATH.exists():  # recorded by benchmarks.ntm_step
        lines += ntm_step_section(json.loads(NTM_STEP_PATH.read_text()))
    if NTM_COMPILED_STEP_PATH.exists():  # recorded by benchmarks.ntm_step --compiled
        lines += ntm_compiled_step_section(json.loads(NTM_COMPILED_STEP_PATH.read_text()))
    text = "\n".join(lines)
    RESULTS_PATH.write_text(text)
    saved = {**results, "command": command}
    (RESULTS_PATH.with_suffix(".json")).write_text(json.dumps(saved, indent=2, default=str) + "\n")
    return text


def scoring_table(results: list[dict]) -> list[str]:
    """Markdown lines of the comparison (here and in RESULTS.md)."""
    lines = ["| scoring | sacreBLEU | BLEU (lc tok) | words per output | seconds |", "|---|---|---|---|---|"]
    return lines + [f"| {r['setting']} | {r['bleu']:.2f} | {r['bleu_lowercased_tokenized']:.2f} | "
                    f"{r['mean_words']:.2f} | {r['seconds']:.0f} |" for r in results]



def translation_section(data: dict) -> list[str]:
    """Markdown lines of RESULTS.md's translation section."""
    lines = ["## 6. Translation: Multi30k (German↔English), 2-core CPU", ""]
    runs = data.get("runs", [])
    if runs:
        lines += ["| model | direction | test BLEU, lowercased tokenized | test sacreBLEU | test chrF | parameters | "
                  "training wall time | test decoding (per sentence, batched) |", "|---|---|---|---|---|---|---|---|"]
        for run in runs:
            lines.append(
                f"| {translation_model_name(run)} | {run['source_lang']}→{run['target_lang']} | "
                f"**{run['test_bleu_lowercased_tokenized']:.2f}** | "
                f"{run['test_bleu']:.2f} | {run['test_chrf']:.2f} | {run['parameters']:,} | "
                f"{run['train_seconds'] / 60:.1f} min | {run['test_generation_seconds']:.0f} s "
                f"({1000 * run['test_generation_seconds'] / run['test_sentences']:.0f} ms) |")
        lines += ["", f"Test split `{runs[0]['test_split']}` ({runs[0]['test_sentences']:,} sentences). sacreBLEU "
                      f"signature: `{runs[0]['test_bleu_signature']}` (detokenized cased output against the raw "
                      "references). "
                      "The lowercased tokenized figure scores output and the `tok/*.lc.norm.tok.*` references after "
                      "Moses lowercasing, punctuation normalization and tokenization, the convention of the "
                      f"published LSTM/GRU numbers. For comparison, the published figure is {PUBLISHED}. The "
                      "training wall time covers the tokenizer, training and a beam-search validation pass after "
                      "every epoch.", ""]
        if any(run.get("extra_test_splits") for run in runs):
            lines += ["Every test split, scored the same way (BLEU lowercased tokenized / sacreBLEU / chrF):", "",
                      "| model | direction | " + " | ".join(all_test_splits(runs)) + " |",
                      "|---|---|" + "---|" * len(all_test_splits(runs))]
            for run in runs:
                scores = {run["test_split"]: {key.removeprefix("test_"): value for key, value in run.items()
                                              if key.startswith("test_")}, **run.get("extra_test_splits", {})}
                cells = [f"{s['bleu_lowercased_tokenized']:.2f} / {s['bleu']:.2f} / {s['chrf']:.2f}"
                         if (s := scores.get(split)) else "—" for split in all_test_splits(runs)]
                lines.append(f"| {translation_model_name(run)} | {run['source_lang']}→{run['target_lang']} | "
                             + " | ".join(cells) + " |")
            lines += [""]
        for run in runs:
            direction = f"{run['source_lang']}→{run['target_lang']}"
            lines += [f"{translation_model_name(run)}, {direction}: `{run['command']}`  ",
                      "validation sacreBLEU per epoch: " + ", ".join(f"{b:.1f}" for b in
                                                                       run["validation_bleu_per_epoch"]), ""]
    if data.get("preset_costs"):
        measurements = data["preset_costs"]
        first = measurements[0]
        names = list(dict.fromkeys(name for measurement in measurements for name in measurement["candidates"]))
        lines += [f"Cost of candidate settings (`python -m benchmarks.translation_presets`: median training step on "
                  f"length-grouped batches of {first['batch_size']} pairs, {first['threads']} threads; each "
                  "measurement one run of all the settings, as the machine's speed varies from day to day; ms per "
                  "step / minutes per epoch):", "",
                  "| setting | parameters | " + " | ".join(m["label"] for m in measurements) + " |",
                  "|---|---|" + "---|" * len(measurements)]
        for name in names:
            costs = [measurement["candidates"].get(name) for measurement in measurements]
            parameters = next(cost["parameters"] for cost in costs if cost)
            cells = [f"{cost['ms_per_step']:.0f} / {cost['minutes_per_epoch']:.1f}" if cost else "—" for cost in costs]
            lines.append(f"| {name} | {parameters:,} | " + " | ".join(cells) + " |")
        lines += [""]
    if data.get("decoding"):
        decoding = data["decoding"]
        lines += [f"Decoding time per sentence, the models side by side (`python -m benchmarks.translation_decoding`: "
                  f"the {decoding['sentences']:,} sources of `{decoding['split']}`, {decoding['direction']}, batches "
                  f"of {decoding['batch_size']} of similar length, {decoding['threads']} threads, each model's own "
                  f"search, the models taking turns, median of {len(decoding['models'][0]['rounds_seconds'])} "
                  "rounds):", "",
                  "| model | parameters | search | seconds, each round | ms per sentence |", "|---|---|---|---|---|"]
        for model in decoding["models"]:
            search = f"beam {model['num_beams']}" + (", GNMT scoring" if model["gnmt_scoring"] else "")
            each = ", ".join(f"{value:.1f}" for value in model["rounds_seconds"])
            lines.append(f"| {translation_model_name(model)} | {model['parameters']:,} | {search} | {each} | "
                         f"{model['ms_per_sentence']:.1f} |")
        lines += [""]
    if data.get("huge_pages"):
        pages = data["huge_pages"]
        lines += [f"2 MB pages for PyTorch's CPU allocator (`python -m benchmarks.huge_pages`): the training CLI sets "
                  f"`THP_MEM_ALLOC_ENABLE=1`. Measured on its own runs of the preset, one epoch of the first "
                  f"{pages['train_examples']:,} pairs each, {pages['threads']} threads, the two settings alternating "
                  f"(kernel transparent huge pages: `{pages['kernel_setting']}`):", "",
                  "| setting | training seconds, each run | median | CPU seconds in the kernel | minor page faults |",
                  "|---|---|---|---|---|"]
        for name, setting in pages["settings"].items():
            each = ", ".join(f"{run['train_seconds']:.1f}" for run in setting["runs"])
            lines.append(f"| {name} | {each} | {setting['median_train_seconds']:.1f} | "
                         f"{setting['median_kernel_seconds']:.1f} | {setting['median_minor_faults']:,.0f} |")
        lines += ["", f"Training runs **{pages['speedup']:.2f}x** as fast with 2 MB pages.", ""]
    if data.get("beam_scoring"):
        scoring = data["beam_scoring"]
        lines += [f"Beam-search scoring, measured on the validation split ({scoring['direction']}, beam "
                  f"{scoring['num_beams']}):", ""]
        lines += scoring_table(scoring["results"]) + [""]
    if data.get("notes"):
        lines += [data["notes"], ""]
    if TRANSLATION_SWEEP_PATH.exists():
        lines += translation_sweep_lines(json.loads(TRANSLATION_SWEEP_PATH.read_text()))
    return lines


def translation_model_name(run: dict) -> str:
    """The table's name of a run's model: its preset, and for the Transformer what it is."""
    return {"transformer": "Transformer (Marian), `transformer` preset"}.get(
        run.get("preset"), f"LSTM, `{run.get('preset')}` preset")


def all_test_splits(runs: list[dict]) -> list[str]:
    """The test splits the runs were scored on, the headline one first."""
    splits = [runs[0]["test_split"]]
    for run in runs:
        splits += [split for split in run.get("extra_test_splits", {}) if split not in splits]
    return splits


def translation_sweep_lines(data: dict) -> list[str]:
    """The recipe search: every try on the validation split, with its cost."""
    lines = ["### The recipe search, on the validation split only", "",
             "Every try (`python -m benchmarks.translation_sweep`): wall time of its run (tokenizer, training, a "
             "validation pass per epoch), validation sacreBLEU of each epoch's model (beam 5), and the final model's "
             "validation scores with the preset's search (beam 5, GNMT α = 0.6; for an averaged run the mean of the "
             "last checkpoints, for an ensemble its members decoding together).", "",
             "| try | direction | minutes | parameters | per epoch (best / last) | final sacreBLEU | "
             "final BLEU lc tok |",
             "|---|---|---|---|---|---|---|"]
    for entry in data["tries"]:
        curve = entry.get("validation_bleu_per_epoch")
        epochs = f"{max(curve):.2f} / {curve[-1]:.2f} ({len(curve)} epochs)" if curve else "—"
        lines.append(f"| {entry['name']} | {entry['direction']} | {entry['minutes']:.1f} | {entry['parameters']:,} | "
                     f"{epochs} | {entry['validation_bleu']:.2f} | "
                     f"{entry['validation_bleu_lowercased_tokenized']:.2f} |")
    lines += [""]
    for entry in data["tries"]:
        lines += [f"{entry['name']}: `{entry['command']}`" + ("  " if entry.get("validation_bleu_per_epoch") else "")]
        if entry.get("validation_bleu_per_epoch"):
            lines += ["per epoch: " + ", ".join(f"{b:.1f}" for b in entry["validation_bleu_per_epoch"])]
        lines += [""]
    if data.get("notes"):
        lines += [data["notes"], ""]
    return lines


def toy_tasks_section(data: dict) -> list[str]:
    """Markdown lines of RESULTS.md's toy-task section."""
    lines = ["## 7. Toy tasks: every task the CLI offers learns", ""]
    finals = data.get("final", {})
    if finals:
        lines += ["The default command of each task (`python -m training.train --task TASK --output-dir DIR`), timed "
                  "by its wall clock; fresh sources are drawn with another seed, none in the training data, and "
                  "scored against answers computed by Python.", "",
                  "| task | preset | parameters | training | wall clock | test exact match | fresh set | "
                  "beyond training lengths |", "|---|---|---|---|---|---|---|---|"]
        for task, r in finals.items():
            fresh = r["fresh"]
            beyond = [f"{name}: {s['exact_match']:.2f}% of {s['size']:,}" for name, s in fresh.items()
                      if name != "fresh"]
            lines.append(f"| {task} | `{r['preset']}` "
                         f"| {r['parameters']:,} | {r['train_seconds']:.0f} s | {r['wall_seconds']:.0f} s | "
                         f"**{r['test_exact_match']:.2f}%** | **{fresh['fresh']['exact_match']:.2f}%** of "
                         f"{fresh['fresh']['size']:,} | {'; '.join(beyond) or '—'} |")
        lines.append("")
        for task, r in finals.items():
            lines.append(f"{task}: validation exact match per epoch " +
                         ", ".join(f"{v:.2f}" for v in r["validation_exact_match_per_epoch"]) + "  ")
            for name, s in r["fresh"].items():
                if s["errors"]:
                    lines.append(f"{task}, {name}, first errors: " + "; ".join(f"`{e}`" for e in s["errors"][:5])
                                 + "  ")
        lines.append("")
    candidates = data.get("candidates", {})
    if candidates:
        lines += ["How the presets were chosen: each try below is a full training run (`training.train` with the "
                  "overrides shown), judged on its validation curve; the test score is shown for completeness. The "
                  "tries ran beside other work on the same 2 cores, so their times are upper bounds and not "
                  "comparable with each other; the default commands above were timed alone.", ""]
        for task, tries in candidates.items():
            lines += [f"{task}:", "", "| try | training | validation exact match per epoch | test |",
                      "|---|---|---|---|"]
            for name, r in tries.items():
                curve = ", ".join(f"{v:.1f}" for v in r["validation_exact_match_per_epoch"])
                lines.append(f"| {name} | {r['train_seconds']:.0f} s | {curve} | {r['test_exact_match']:.2f}% |")
            lines.append("")
    if data.get("notes"):
        lines += [data["notes"], ""]
    if data.get("comparison"):
        lines += data["comparison"]
    return lines


def demo_section(data: dict) -> list[str]:
    lines = ["## 8. The demo in a browser", "",
             "`python -m benchmarks.demo`: each model's demo served locally and driven in headless chromium "
             "(Selenium). Times run from the click to the answer on the page (output text and heatmap drawn), so "
             "they include the browser, Gradio's queue and the model.", "",
             "| model | first input | first response | then greedy (median / max) | then beam 5 (median / max) |",
             "|---|---|---|---|---|"]
    for name, r in data.get("models", {}).items():
        greedy, beam = r["beam_1"], r["beam_5"]
        lines.append(f"| {name} (`{r['folder']}`) | `{r['first_input']}` → `{r['first_output']}` | "
                     f"**{1000 * r['first_response_seconds']:.0f} ms** | {1000 * greedy['median_seconds']:.0f} / "
                     f"{1000 * greedy['max_seconds']:.0f} ms | {1000 * beam['median_seconds']:.0f} / "
                     f"{1000 * beam['max_seconds']:.0f} ms |")
    lines += ["", f"{next(iter(data.get('models', {}).values()), {}).get('beam_1', {}).get('requests', 0)} requests "
              "per setting, each answer different from the one before. Screenshots: docs/demo_<model>.png.", ""]
    return lines


def onnx_section(data: dict) -> list[str]:
    lines = ["## 9. ONNX Runtime beside PyTorch", "",
             "`python -m benchmarks.onnx_runtime`: the models exported with `hf_attn_seq2seq.onnx.export.export_onnx` "
             "(encoder and decoder step, fp32 and ONNX Runtime's dynamic int8), run by `OnnxAttnSeq2Seq`.", "",
             "| model | inputs | greedy equal to PyTorch | beam 5 equal | int8 greedy equal | exact match: PyTorch / "
             "ONNX fp32 / ONNX int8 |", "|---|---|---|---|---|---|"]
    for name, label in (("date", "date (main job)"), ("translation", "Multi30k")):
        if name not in data:
            continue
        r = data[name]["equality"]
        matches = "—"
        if "pytorch_exact_match" in r["greedy"]:
            matches = (f"{r['greedy']['pytorch_exact_match']:.2f}% / {r['greedy']['onnx_exact_match']:.2f}% / "
                       f"{r['int8_greedy']['onnx_exact_match']:.2f}%")
        inputs = r["greedy"]["inputs"]
        where = data[name].get("split", "test split")
        lines.append(f"| {label} (`{data[name]['folder']}`) | {inputs:,} ({where}) | "
                     f"{r['greedy']['equal_percent']:.2f}% | {r['beam']['equal_percent']:.2f}% | "
                     f"{r['int8_greedy']['equal_percent']:.2f}% | {matches} |")
    if "date" in data:
        lines += ["", f"Beam search on both sides is GNMT's (`gnmt_search`) with "
                  f"{data['date']['equality']['beam_settings']}; the translation model's with "
                  f"{data.get('translation', {}).get('equality', {}).get('beam_settings', '—')}.", ""]
    speed = data.get("date", {}).get("speed")
    if speed:
        lines += ["Speed on the main job's date model (greedy, the same tokens on every side; each row's three timed "
                  "in alternation):", "",
                  "| threads | batch | PyTorch generate ms/token | ONNX fp32 ms/token | ONNX int8 ms/token | "
                  "fp32 speed-up | int8 speed-up |", "|---|---|---|---|---|---|---|"]
        for row in speed.values():
            lines.append(f"| {row['threads']} | {row['batch_size']} | {row['pytorch_ms_per_token']:.3f} | "
                         f"{row['onnx_fp32_ms_per_token']:.3f} | {row['onnx_int8_ms_per_token']:.3f} | "
                         f"**{row['fp32_speedup']:.2f}x** | **{row['int8_speedup']:.2f}x** |")
        lines += ["", "Goals: ≥ 4x per token at batch 1, ≥ 1.5x throughput at batch 64.", ""]
    for where in data.get("date", {}).get("where_time_goes", []):
        lines += [f"Where ONNX Runtime's time goes at batch {where['batch_size']} (fp32, one thread, per call of "
                  f"{where['steps_per_sequence']:.1f} steps, {where['sequence_ms']:.2f} ms): the encoder "
                  f"{where['encoder_ms']:.3f} ms, the decoder steps {where['decoder_steps_ms']:.3f} ms "
                  f"({where['step_us']:.0f} µs each, feeds and fetches included), the search loop around them "
                  f"{where['loop_ms']:.3f} ms.", ""]
    if data.get("date", {}).get("where_time_goes"):
        lines += ["At batch 1 a PyTorch step pays per-operation dispatch (dozens of small operators, each through "
                  "Python and the dispatcher) many times over its arithmetic; ONNX Runtime runs the same step as one "
                  "graph call. "
                  "At batch 64 the work is the arithmetic itself, above all the encoder's recurrent matrix products, "
                  "which both runtimes hand to the same kind of fp32 kernels: there int8 (VNNI integer products) is "
                  "what gains. One thread is ONNX Runtime's fastest setting on this 2-core machine: a second "
                  "intra-op thread made every row slower.", ""]
    if "translation" in data and data["translation"]["equality"]["int8_greedy"]["equal_percent"] < 100:
        lines += [f"int8 changes {100 - data['translation']['equality']['int8_greedy']['equal_percent']:.1f}% of "
                  "the Multi30k greedy translations (an 8,000-token output layer and longer outputs let rounding "
                  "flip close choices); on the date task it changes none.", ""]
    return lines


def copy_lengths(split: str) -> str:
    if split.startswith("test_ones_"):
        return f"1-20, {split.rpartition('_')[2]}% ones"
    return "1-20" if split == "test" else split.rpartition("_")[2]


def fine_tuning_section(data: dict) -> list[str]:
    """Section 11: fine-tuning a converged date model with --init-from, by learning rate and length."""
    lines = ["## 11. Fine-tuning with --init-from", "",
             f"Command: `{data['command']}`. A date model trained to 100% with `--preset {data['preset']}` is "
             f"fine-tuned on freshly drawn data (seed 1) at the preset's from-scratch learning rate "
             f"({data['from_scratch_learning_rate']:g}) and at a tenth of it, the default of `--init-from`. The "
             "validation exact match is measured before the first update and at the end; `kept` says which model "
             "the run exported (the loaded one when validation fell)."
             + (f" The converged model: `{data['base']}`." if data.get("base") else ""), "",
             "| steps | learning rate | validation before | validation after | kept | test | seconds |",
             "|---|---|---|---|---|---|---|"]
    for run in data["runs"]:
        lines.append(f"| {run['steps']} | {run['learning_rate']:g} | {run['validation_before']:.2f} | "
                     f"{run['validation_after']:.2f} | {run['kept']} | {run['test_exact_match']:.2f} | "
                     f"{run['seconds']:.0f} |")
    return lines + [""]


# The copy record's presets, in the order its tables show them, with their labels.
COPY_PRESET_LABELS = {"ntm-feedforward": "NTM, feedforward controller", "ntm": "NTM, LSTM controller",
                      "lstm": "LSTM"}


def kept_attempt(run: dict) -> str:
    """For a run that started again from a fresh initialisation: which attempt its kept checkpoint is from."""
    return f" (attempt {run['kept_attempt']} of {run['attempts']})" if "attempts" in run else ""


def restarted_runs_note(runs_of: dict) -> str:
    """How the table counts a run that started again from a fresh initialisation ("" when none did)."""
    if not any("attempts" in run for runs in runs_of.values() for run in runs):
        return ""
    rule = load_preset("ntm-feedforward")["convergence"]["copy"]["restart"]
    return (f" A run that started again from a fresh initialisation (the feedforward preset's rule: validation bit "
            f"errors per sequence not below {rule['above']:g} by step {rule['step']:,}) counts its steps and "
            "minutes from the start of the run, and its kept checkpoint's step from the start of its attempt.")


def ntm_copy_section(data: dict) -> list[str]:
    """Section 10: the NTM (with each controller measured) and its LSTM baseline on the copy task, per seed and by
    test length."""
    seeds = data["seeds"]
    presets = [preset for preset in COPY_PRESET_LABELS if any(preset in runs for runs in seeds.values())]
    ntm_presets = [preset for preset in presets if preset != "lstm"]
    # each preset's runs, in seed order (a preset measured later may lack some seeds)
    runs_of = {preset: [runs[preset] for runs in seeds.values() if preset in runs] for preset in presets}
    first = runs_of[presets[0]][0]
    lines = ["## 10. Neural Turing Machine against an LSTM on the copy task", "",
             "Commands: " + "; ".join(f"`{command}`" for command in data.get("commands", [data.get("command")]))
             + ". For each seed two models train side by side, each a process on one "
             f"CPU thread of the 2 cores, for the same wall time ({data['minutes']:g} minutes, evaluations "
             f"included), on the same data (the seed's copy task: sequences of 1-20 random 8-bit vectors"
             + (", each with 10-90% of its bits on" if "test_ones_10" in first["test"] else "") + "), with "
             "the same optimizer (Adam 1e-3, batches of 16, gradients clipped at 10). Each keeps its checkpoint "
             "with the fewest bit errors on the validation split (lengths 1-20, drawn as training); the test splits "
             "are scored once, at the end. "
             + "; ".join(f"{COPY_PRESET_LABELS[preset]}: {runs_of[preset][0]['parameters']:,} parameters "
                         f"(`--preset {preset}`)" for preset in presets)
             + ". The NTM's two controllers are those of the paper: one ReLU layer of 100 units, or an LSTM of 100; "
             "the baseline is one LSTM layer of 120.", ""]
    for preset in ntm_presets:
        runs = runs_of[preset]
        lines += [f"**{COPY_PRESET_LABELS[preset]}: {sum(run['converged'] for run in runs)} of {len(runs)} seeds "
                  f"converge** (below 0.1 bit errors per sequence on validation).", ""]
    lines += ["Training is not smooth: a model that has learned the task can lose it within a few hundred steps "
              "(the loss jumps back to chance) and may or may not find it again, which is why the checkpoint kept is "
              "the best on validation, not the last; the table gives both."
              + restarted_runs_note(runs_of), "",
              "| seed | model | steps in the time | kept checkpoint | its validation bit errors | first below 0.1 on "
              "validation | validation at the last step |", "|---|---|---|---|---|---|---|"]
    for seed, runs in seeds.items():
        for preset in presets:
            if preset not in runs:
                continue
            run = runs[preset]
            below = run["seconds_to_validation_below_threshold"]
            lines.append(f"| {seed} | {COPY_PRESET_LABELS[preset]} | {run['train_steps']:,} | "
                         f"{run['best_checkpoint_step']:,}{kept_attempt(run)} | "
                         f"{run['validation_bit_errors_per_sequence']:.2f} | "
                         + (f"{below / 60:.1f} min | " if below is not None else "not reached | ")
                         + f"{run['last_validation_bit_errors_per_sequence']:.2f} |")
    splits = list(first["test"])
    header = "| test sequences | " + " | ".join(COPY_PRESET_LABELS[preset] for preset in presets) + " |"
    rule = "|---|" + "---|" * len(presets)
    lines += ["", "Bit errors per sequence on the test splits (lower is better), mean over the seeds and, in "
              "brackets, each seed; lengths above 20 never occur in training, and the longer splits have half the "
              "bits on:", "", header, rule]
    for split in splits:
        cells = []
        for preset in presets:
            values = [run["test"][split]["bit_errors_per_sequence"] for run in runs_of[preset]]
            cells.append(f"**{sum(values) / len(values):.2f}** ({', '.join(f'{v:.2f}' for v in values)})")
        lines.append(f"| {copy_lengths(split)} | " + " | ".join(cells) + " |")
    lines += ["", "Sequences copied without a single wrong bit (%, mean over the seeds):", "", header, rule]
    for split in splits:
        means = []
        for preset in presets:
            values = [run["test"][split]["sequences_copied"] for run in runs_of[preset]]
            means.append(f"{sum(values) / len(values):.1f}")
        lines.append(f"| {copy_lengths(split)} | " + " | ".join(means) + " |")
    access = data.get("memory_access", {})  # preset -> seed -> measurements, as benchmarks.ntm_copy writes it
    if access:
        lines += ["", "What each NTM's heads do, measured on 32 test sequences of 20 vectors: the direction the write "
                  "head's peak row takes, the share of input steps at which it moves on by exactly one row, the "
                  "share of copy steps at which the read head's peak is one of the written rows, the share of copy "
                  "steps at which it moves on in the write head's direction, and the mean peak weights (1 = one row "
                  "only):", "",
                  "| seed | controller | write direction | writes one row per step | reads on written rows | reads "
                  "walk the same way | peak write weight | peak read weight |", "|---|---|---|---|---|---|---|---|"]
        for preset in ntm_presets:
            for seed, heads in access.get(preset, {}).items():
                lines.append(f"| {seed} | {COPY_PRESET_LABELS[preset].removeprefix('NTM, ')} | "
                             f"{heads['write_direction']} | {100 * heads['writes_one_row_per_step']:.1f}% | "
                             f"{100 * heads['reads_on_written_rows']:.1f}% | "
                             f"{100 * heads['reads_follow_write_direction']:.1f}% | "
                             f"{heads['mean_peak_write_weight']:.3f} | {heads['mean_peak_read_weight']:.3f} |")
    if "picture" in data:
        picture = data["picture"]
        lines += ["", f"The memory access of seed {picture['seed']}'s NTM "
                  f"({COPY_PRESET_LABELS[picture.get('preset', 'ntm')].removeprefix('NTM, ')}) on a test sequence of "
                  "20 vectors (inputs and outputs above, write and read weightings over the 128 memory rows below):",
                  "", f"![NTM memory access](../{picture['path']})"]
    if data.get("notes"):
        lines += [""] + [f"- {note}" for note in data["notes"]]
    return lines + [""]


# What the paper (Graves et al. 2014, section 4) reports for each task, to read our figures against.
NTM_PAPER_OUTCOMES = {
    "repeat_copy": "section 4.2: the NTM learns it much faster than the LSTM and, unlike it, carries on to longer "
                   "sequences and more repeats (though it miscounts the end marker beyond the trained counts)",
    "associative_recall": "section 4.3: the NTM learns it within about 30,000 episodes, the LSTM does not reach zero "
                          "cost in a million, and the NTM degrades gracefully on lists longer than trained",
    "ngrams": "section 4.4: the NTM ends a small but clear margin above the Bayesian optimum and below the LSTM",
    "priority_sort": "section 4.5: the NTM (8 parallel read and write heads) learns it faster and to a lower cost "
                     "than the LSTM",
}


def mean_test_figure(seeds: dict, model: str, split: str, key: str) -> float:
    """The mean over `seeds` (seed -> model -> run) of one figure of `model`'s `split`."""
    return sum(pair[model]["test"][split][key] for pair in seeds.values()) / len(seeds)


def ntm_paper_tasks_section(data: dict) -> list[str]:
    """Section 14: the NTM and its LSTM baseline on the paper's other tasks, per task and seed."""
    lines = ["## 14. Neural Turing Machine against an LSTM on the paper's other tasks", "",
             "Commands: " + "; ".join(f"`{command}`" for command in data["commands"]) + ". For each task and seed "
             "the two models train side by side, each a process on one CPU thread of the 2 cores, for the same "
             "wall time (the task's budget below, evaluations included), on the same data, with the same "
             "optimizer (the presets': Adam 1e-3, batches of 16, gradients clipped at 10). Each keeps its checkpoint "
             "best on validation; the test splits, those beyond training included, are scored once at the end.", ""]
    if data.get("notes"):
        lines += [f"- {note}" for note in data["notes"]] + [""]
    for task, entry in data["tasks"].items():
        metric = entry["metric"]
        cost = metric == "cost_per_sequence"
        unit = "cost per sequence (bits)" if cost else "bit errors per sequence"
        minutes = entry.get("minutes", data.get("minutes"))  # older records state one budget for every task
        lines += [f"### {task.replace('_', ' ')}", "", f"The paper: {NTM_PAPER_OUTCOMES[task]}.", "",
                  f"Budget: {minutes:g} minutes of training per model and seed.", "",
                  f"| seed | model | parameters | steps in the time | validation {unit}: kept (at step) | "
                  "curve (minutes: value) |", "|---|---|---|---|---|---|"]
        for seed, pair in entry["seeds"].items():
            ntm_preset = entry.get("presets", {}).get("ntm", "ntm")  # older records: the ntm preset throughout
            for name, label in (("ntm", f"NTM (`{ntm_preset}`)"), ("lstm", "LSTM")):
                run = pair[name]
                curve = run["curve"]
                shown = curve if len(curve) <= 8 else [curve[round(i * (len(curve) - 1) / 7)] for i in range(8)]
                lines.append(f"| {seed} | {label} | {run['parameters']:,} | {run['train_steps']:,} | "
                             f"{run['validation']:.2f} ({run['best_checkpoint_step']:,}) | "
                             + ", ".join(f"{seconds / 60:.0f}: {value:.2f}" for _, seconds, value in shown) + " |")
        first = next(iter(entry["seeds"].values()))
        lines += ["", f"Test splits, {unit} (mean over the seeds)"
                  + (", beside the Bayesian optimum's cost on the same sequences" if cost else "") + ":", "",
                  "| test split | NTM | LSTM |" + (" optimum |" if cost else ""),
                  "|---|---|---|" + ("---|" if cost else "")]
        for split in first["ntm"]["test"]:
            seeds = entry["seeds"]
            row = (f"| {split} | {mean_test_figure(seeds, 'ntm', split, metric):.2f} | "
                   f"{mean_test_figure(seeds, 'lstm', split, metric):.2f} |")
            if cost:  # each seed's sequences have their own optimum: the mean over the same seeds
                row += f" {mean_test_figure(seeds, 'ntm', split, 'optimal_cost_per_sequence'):.2f} |"
            lines.append(row)
        if "memory_use" in entry:  # recorded for N-grams (benchmarks.ntm_paper_tasks.reads_after_same_context)
            use = entry["memory_use"]
            lines += ["", f"How seed {use['seed']}'s NTM reads, on {use['sequences']} test sequences "
                      f"({use['steps']:,} steps from step 30 on, each with an earlier occurrence of its 5-bit "
                      f"context): on average **{100 * use['mean']:.0f}%** of the read weighting (median "
                      f"{100 * use['median']:.0f}%) lies on the rows that hold the bit which followed an earlier "
                      "occurrence of the current context, where a read spread evenly over the rows written so far "
                      f"would put {100 * use['chance']:.0f}%. A read spread over those rows gives the controller "
                      "the mean of what they hold, what followed the context before: the quantity the Bayesian "
                      "optimum's counts estimate."]
        if "picture" in entry:
            lines += ["", f"The memory access of seed {entry['picture']['seed']}'s NTM on the first test example:", "",
                      f"![{task} memory access](../{entry['picture']['path']})"]
        lines.append("")
    return lines


def ntm_step_section(data: dict) -> list[str]:
    """Section 15: the NTM's training step at a commit before and in the working tree, side by side."""
    lines = ["## 15. The Neural Turing Machine's training step before and after addressing both heads at once", "",
             f"`{data['command']}`: the package at `{data['before']}` (before: each head addressed the memory in "
             "a pass of its own) and the working tree (both heads in one batched pass), alternating one-thread "
             f"processes over {data['rounds']} rounds; medians. One training step (forward, backward, Adam) on a "
             f"batch of {data['batch_size']} training rows of each task, the model built from the same seed in both "
             "trees.", "",
             "| preset, task (time steps of the batch) | before (ms) | after (ms) | after / before |",
             "|---|---|---|---|"]
    lines += [f"| {name} | {1000 * r['before']:.0f} | {1000 * r['after']:.0f} | {r['ratio']:.2f} |"
              for name, r in data["figures"].items()]
    return lines + [""]


def ntm_compiled_step_section(data: dict) -> list[str]:
    """Section 15's second table: the working tree's NTM training step as it is and with its memory step compiled."""
    lines = ["### The memory step compiled", "",
             f"`{data['command']}`: the working tree with the memory step as it is (before) and through "
             "`NTMModel.compile_memory_step` (after, what `--set torch_compile=true` and the `ntm` preset's "
             "`torch_compile` do), alternating one-thread processes over "
             f"{data['rounds']} rounds; medians. One training step (forward, backward, Adam) on a batch of "
             f"{data['batch_size']} training rows of each task, the model built from the same seed on both sides. "
             "Each model compiles once, in a first step that is not timed, whose seconds are in the last column: "
             "torch keeps compiled kernels in an on-disk cache, so these are compiles of steps the machine had "
             "compiled before; with an empty cache, compiling the `ntm` preset's step for repeat copy took 26 s.", "",
             "| preset, task (time steps of the batch) | as it is (ms) | compiled (ms) | compiled / as it is | first "
             "step, compiling (s) |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {1000 * r['before']:.0f} | {1000 * r['after']:.0f} | {r['ratio']:.2f} | "
              f"{r['compile_seconds']:.0f} |" for name, r in data["figures"].items()]
    return lines + [""]


def date_languages_section(data: dict) -> list[str]:
    """Markdown lines of RESULTS.md's section on the date model's languages and families."""
    lines = ["## 12. The date model on every family and language", ""]
    run = data.get("main_job")
    if run:
        fresh = run["fresh"]
        wall = f"{run['wall_seconds']:.0f} s wall clock, " if "wall_seconds" in run else ""
        lines += [f"`make train`'s command (`{run['command']}`): {run['parameters']:,} parameters, {wall}"
                  f"{run['train_seconds']:.0f} s of training. Test split: **{run['test_exact_match']:.2f}%**. Fresh "
                  f"sample (seed {fresh['seed']}, nothing chosen on it, none of it in the training data): "
                  f"{fresh['per_family_and_language']} dates per "
                  f"family and language, **{fresh['all']['exact_match']:.2f}%** of {fresh['all']['size']:,} "
                  f"(greedy decoding in {fresh['all']['decode_seconds']:.0f} s).", "",
                  "| family | exact match | dates | | language | exact match | dates |",
                  "|---|---|---|---|---|---|---|"]
        families, languages = list(fresh["family"].items()), list(fresh["language"].items())
        for index in range(max(len(families), len(languages))):
            left = (f"{families[index][0]} | {families[index][1]['exact_match']:.2f}% | {families[index][1]['size']:,}"
                    if index < len(families) else " | | ")
            right = (f"{languages[index][0]} | {languages[index][1]['exact_match']:.2f}% | "
                     f"{languages[index][1]['size']:,}" if index < len(languages) else " | | ")
            lines.append(f"| {left} | | {right} |")
        book = fresh["book"]
        book_size = sum(r["size"] for r in book.values())
        book_right = sum(r["size"] * r["exact_match"] / 100 for r in book.values())
        lines += ["", f"The book's formats: **{100 * book_right / book_size:.2f}%** of {book_size:,} (" +
                  ", ".join(f"`{form}` {r['exact_match']:.1f}%" for form, r in book.items()) + ").", "",
                  "Weakest family and language cells: " +
                  "; ".join(f"{cell} {r['exact_match']:.2f}% of {r['size']}" for cell, r in fresh["worst_cells"]
                            if r["exact_match"] < 100) +
                  ".", ""]
        if "full_width_digits" in fresh:
            full_width = fresh["full_width_digits"]
            lines += [f"The same Korean, Japanese and Chinese dates typed with full-width digits "
                      f"(`{full_width['example']}`, read through the tokenizer's NFKC normalization): "
                      f"**{full_width['exact_match']:.2f}%** of "
                      f"{full_width['size']:,}.", ""]
        errors = [error for _, r in fresh["worst_cells"] for error in r["errors"]]
        if errors:
            lines += ["First errors there: " + "; ".join(f"`{error}`" for error in errors[:8]) + ".", ""]
    candidates = data.get("candidates", {})
    if candidates:
        lines += ["How the recipe was chosen (each a full `training.train` run on the new generator, judged on "
                  "validation):", "", "| try | parameters | training | validation exact match per epoch | test |",
                  "|---|---|---|---|---|"]
        for name, r in candidates.items():
            curve = ", ".join(f"{v:.2f}" for v in r["validation_exact_match_per_epoch"])
            lines.append(f"| {name} | {r['parameters']:,} | {r['train_seconds']:.0f} s | {curve} | "
                         f"{r['test_exact_match']:.2f}% |")
        lines.append("")
    if data.get("notes"):
        lines += [data["notes"], ""]
    return lines


def layout_speed_section(data: dict) -> list[str]:
    """Markdown lines of RESULTS.md's section on the speed before and after the decoder-step redesign."""
    lines = ["## 13. Before and after the decoder-step redesign", "",
             f"`python -m benchmarks.layout_speed`: the package at `{data['before']}` (before) and the working tree "
             f"(after), each in its own one-thread process, alternating over {data['rounds']} rounds; medians. "
             "Generation makes every row run to the length limit (no end token), so both sides make the same "
             "tokens; its time is per output token (a call's time over rows x tokens made, so a beam-5 token "
             "carries five hypotheses). A training step is forward, backward and Adam on 64 rows.", "",
             "| measurement | before | after | after / before |", "|---|---|---|---|"]
    labels = {"onnx_seconds_per_token": "ONNX Runtime: greedy on the date test split, batches of 64",
              "torch_seconds_per_token_test_split": "PyTorch: greedy on the date test split, batches of 64"}
    for name, figure in data["figures"].items():
        if name.startswith("onnx_same") or name == "onnx_sources":
            continue
        unit = "per step" if "training step" in name else "per token"
        lines.append(f"| {labels.get(name, name)} | {1e6 * figure['before']:,.1f} µs {unit} | "
                     f"{1e6 * figure['after']:,.1f} µs {unit} | {figure['ratio']:.3f} |")
    same = data["figures"]["onnx_same_ids"]
    lines += ["", f"ONNX Runtime against PyTorch, greedy, on the first {data['test_rows']:,} sources of the date test "
              f"split: the same ids for **{100 * same['before']:.2f}%** of them before and "
              f"**{100 * same['after']:.2f}%** after.", ""]
    if data.get("notes"):
        lines += [data["notes"], ""]
    return lines
