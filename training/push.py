"""Upload an exported model folder to the Hugging Face Hub.

    python -m training.push outputs/date-attention/model --repo-id you/attn-seq2seq-date [--dry-run]

The model files of the folder written by `training.train` (`<output-dir>/model`) are uploaded in one commit, with the
model card's usage snippet pointing at `--repo-id`. Only what a model repo needs goes (weights, configs, tokenizer,
code, card, images, metrics: `hf_attn_seq2seq.hub.UPLOAD_PATTERNS`); subfolders, hidden files and anything else stay,
and a symlink out of the folder is refused. `--dry-run` lists exactly what would be sent, and what would not, without
any network access.
"""

import argparse
import sys
from pathlib import Path

from hf_attn_seq2seq.hub import check_repo_id, push_folder, upload_contents, upload_listing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="an exported model folder")
    parser.add_argument("--repo-id", required=True, help="namespace/name on the Hub")
    parser.add_argument("--token", default=None, help="a write token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="list the files that would be uploaded; send nothing")
    args = parser.parse_args(argv)
    try:
        check_repo_id(args.repo_id)
        if not Path(args.folder).is_dir():
            raise FileNotFoundError(f"{args.folder}: no such folder.")
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
            return 0
        url = push_folder(args.folder, args.repo_id, token=args.token, private=args.private)
    except (OSError, PermissionError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"uploaded {len(files)} files: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
