"""Build an ensemble of saved models that decode together (log-probabilities averaged per step).

    python -m training.ensemble outputs/mt-de-en/model outputs/mt-de-en-seed2/model --output-dir outputs/mt-de-en-ens

The members must share their tokenizer (the same vocabulary and special tokens: models trained by `training.train`
on the same data and `--vocab-size` do). The output is a Hub-ready model folder like any other: `generate`, the
pipeline, `attn-seq2seq push` and `from_pretrained` take it as one model. The output folder must be new, empty or an
earlier ensemble (then replaced whole).
"""

import argparse
import json
import sys
from pathlib import Path


def _check_output(output: Path, members: list[Path]) -> None:
    """Refuse an output folder that holds anything but an earlier ensemble, or that is (or holds) a member."""
    for member in members:
        if output.resolve() == member.resolve() or member.resolve().is_relative_to(output.resolve()):
            raise ValueError(f"{output} would replace the member folder {member}; write the ensemble elsewhere.")
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output} exists and is not a folder; move it away (it is not replaced).")
    if output.is_dir() and any(output.iterdir()):
        config = output / "config.json"
        try:
            model_type = json.loads(config.read_text()).get("model_type") if config.is_file() else None
        except (OSError, ValueError):
            model_type = None
        if model_type != "attn_seq2seq_ensemble":
            raise FileExistsError(f"{output} holds files that are not an earlier ensemble; choose a new or empty "
                                  "folder (nothing there was changed).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("members", nargs="+", help="saved model folders (training.train's <output-dir>/model)")
    parser.add_argument("--output-dir", required=True, help="the ensemble folder to write")
    args = parser.parse_args(argv)
    try:
        from hf_attn_seq2seq.ensembling import save_ensemble

        members = [Path(member) for member in args.members]
        for member in members:
            if not member.is_dir():
                raise FileNotFoundError(f"{member}: no such folder.")
        output = Path(args.output_dir)
        _check_output(output, members)
        save_ensemble(members, output)
    except (OSError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote the ensemble of {len(members)} models to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
