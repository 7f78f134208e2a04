"""`attn-seq2seq`: the command line, one command with a subcommand per job.

    attn-seq2seq train --task date --preset fast --output-dir outputs/date-attention
    attn-seq2seq ensemble outputs/mt-de-en/model outputs/mt-de-en-seed2/model --output-dir outputs/mt-de-en-ens
    attn-seq2seq export outputs/date-attention/model outputs/date-onnx
    attn-seq2seq push outputs/date-attention/model --repo-id you/attn-seq2seq-date --dry-run
    attn-seq2seq demo outputs/date-attention/model
    attn-seq2seq compare --task date

Each subcommand takes the options of its module, which also runs on its own (`python -m training.train`,
`python -m training.ensemble`, `python -m training.export`, `python -m training.push`, `python -m
hf_attn_seq2seq.demo`, `python -m training.compare`); `attn-seq2seq <subcommand> --help` lists them.
"""

import importlib
import sys


# subcommand: (module, what it does); each module's `main(argv)` runs it
COMMANDS = {
    "train": ("training.train", "train, evaluate and export a model into a Hub-ready folder"),
    "ensemble": ("training.ensemble", "combine saved models into one that decodes with all of them"),
    "export": ("training.export", "export a saved model to ONNX (encoder and decoder step)"),
    "push": ("training.push", "upload a model folder (and optionally a demo Space) to the Hub"),
    "demo": ("hf_attn_seq2seq.demo", "serve the interactive demo on saved folders or Hub ids"),
    "compare": ("training.compare", "train the variants side by side on a toy task and plot them"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: attn-seq2seq <subcommand> [options]", "", "subcommands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "attn-seq2seq <subcommand> --help lists a subcommand's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, options = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"attn-seq2seq: unknown subcommand {name!r}; choose one of {', '.join(COMMANDS)}.\n\n{usage()}",
              file=sys.stderr)
        return 2
    # imported only when chosen, so that `attn-seq2seq --help` and one subcommand load nothing of the others
    module = importlib.import_module(COMMANDS[name][0])
    program, sys.argv[0] = sys.argv[0], f"attn-seq2seq {name}"  # argparse's usage and errors name the subcommand
    try:
        result = module.main(options)
    finally:
        sys.argv[0] = program
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
