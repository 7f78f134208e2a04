"""Upload an exported model folder to the Hugging Face Hub.

    python -m training.push outputs/date-attention/model --repo-id you/attn-seq2seq-date [--dry-run]

The model files of the folder written by `training.train` (`<output-dir>/model`) are uploaded in one commit, with the
model card's usage snippet pointing at `--repo-id`. Only what a model repo needs goes (weights, configs, tokenizer,
code, card, images, metrics: `hf_attn_seq2seq.hub.UPLOAD_PATTERNS`); subfolders, hidden files and anything else stay,
and a symlink out of the folder is refused. `--dry-run` lists exactly what would be sent, and what would not, without
any network access.

    python -m training.push outputs/date-attention/model --repo-id you/attn-seq2seq-date --space [--dry-run]

`--space` also creates or updates a Gradio Space (`--space-id`, default `<repo-id>-demo`) that serves the package's
demo (`hf_attn_seq2seq.demo`) on the model: `app.py`, this package's source (`hf_attn_seq2seq/`), a
`requirements.txt` with its dependencies and a README with the Space's metadata. `--package-requirement` (a git URL,
a release on an index) installs the package from there instead of carrying its source.
"""

import argparse
import sys
from pathlib import Path

from hf_attn_seq2seq.hub import (
    check_repo_id,
    check_space_fits,
    default_space_id,
    push_folder,
    push_space,
    space_contents,
    upload_contents,
    upload_listing,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="an exported model folder")
    parser.add_argument("--repo-id", required=True, help="namespace/name on the Hub")
    parser.add_argument("--token", default=None, help="a write token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="list the files that would be uploaded; send nothing")
    parser.add_argument("--space", action="store_true", help="also push a Gradio Space with the demo on the model")
    parser.add_argument("--space-id", default=None, help="the Space's namespace/name (default: <repo-id>-demo)")
    parser.add_argument("--package-requirement", default=None,
                        help="install this package in the Space from this requirement line (a git URL, a release "
                             "on an index) instead of carrying its source")
    args = parser.parse_args(argv)
    if not args.space and (args.space_id or args.package_requirement):
        parser.error("--space-id and --package-requirement need --space")
    try:
        check_repo_id(args.repo_id)
        space_id = args.space_id or default_space_id(args.repo_id)
        space = space_contents(args.repo_id, space_id, args.package_requirement) if args.space else []
        if not Path(args.folder).is_dir():
            raise FileNotFoundError(f"{args.folder}: no such folder.")
        if args.space:
            check_space_fits(args.folder)
        files, left = upload_listing(args.folder)
        if not files:
            raise FileNotFoundError(f"{args.folder}: no model files to upload.")
        if args.dry_run:
            upload_contents(args.folder, args.repo_id)  # the card must have a snippet to point at the repo
            for name, size in files:
                note = f"  (usage snippet loads {args.repo_id})" if name == "README.md" else ""
                print(f"{size:>12,}  {name}{note}")
            print(f"{sum(size for _, size in files):>12,}  total, {len(files)} files -> {args.repo_id} (dry run)")
            for name, reason in left:
                print(f"{'not sent':>12}  {name} ({reason})")
            for name, content in space:
                print(f"{len(content):>12,}  {name}  (Space {space_id})")
            if space:
                print(f"{sum(len(c) for _, c in space):>12,}  total, {len(space)} files -> Space {space_id} (dry run)")
            if args.package_requirement:
                print(f"note: the Space installs {args.package_requirement.strip()!r}, which this dry run cannot "
                      "check: make sure the Space can reach what it names.")
            return 0
        url = push_folder(args.folder, args.repo_id, token=args.token, private=args.private)
        print(f"uploaded {len(files)} files: {url}")
        if space:
            space_url = push_space(args.repo_id, space_id, token=args.token, private=args.private,
                                   requirement=args.package_requirement)
            print(f"uploaded the demo Space {space_id} ({len(space)} files): {space_url}")
    except (OSError, PermissionError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
