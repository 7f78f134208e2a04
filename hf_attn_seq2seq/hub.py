"""Hub-ready export: a folder that is exactly what `push_to_hub` uploads, written atomically."""

import fnmatch
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from transformers import GenerationConfig

from hf_attn_seq2seq.models.attn_seq2seq import pipeline_attn_seq2seq as pipeline_module
from hf_attn_seq2seq.models.attn_seq2seq.configuration_attn_seq2seq import CUSTOM_PIPELINES
from hf_attn_seq2seq.saving import write_staged


def generation_config_for(model_config, num_beams: int = 1, **settings) -> GenerationConfig:
    """A generation config holding only what is set here (a full dump would pin `max_length=20`)."""
    return GenerationConfig(
        decoder_start_token_id=model_config.decoder_start_token_id,
        bos_token_id=model_config.bos_token_id,
        eos_token_id=model_config.eos_token_id,
        pad_token_id=model_config.pad_token_id,
        num_beams=num_beams,
        **settings,
    )


def _gives_translation_pipeline(model) -> bool:
    """A transformers encoder-decoder (the Marian comparison model) gets the package's pipeline as its
    "translation" task, as the package's own models have it: True when its file must be copied beside the weights."""
    config = model.config
    if getattr(config, "custom_pipelines", None) or not getattr(config, "is_encoder_decoder", False):
        return False
    config.custom_pipelines = CUSTOM_PIPELINES
    return True


def write_model_folder(
    folder: str | Path,
    model,
    tokenizer,
    generation_config: GenerationConfig | None = None,
    metrics: dict | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write weights (safetensors), config with `auto_map` and `custom_pipelines`, the model and pipeline code, the
    tokenizer (unless None: the NTM reads bit vectors), the generation config and `metrics.json`; `extra(tmp_folder)`
    may add files (card, images).

    The folder is replaced whole and atomically (`write_staged`): a kill at any moment leaves the old or the new
    complete folder. Leftovers of killed exports (`.<name>.*` beside it) are removed first; the caller makes sure no
    other export writes there at the same time.
    """
    folder = Path(folder)
    # staging folders of killed exports and of the model's own atomic save inside them (`write_staged`'s names
    # only: a user's `.model.bak` beside the folder is theirs)
    for pattern in (f".{folder.name}.saving-*", f".{folder.name}.old.*", f"..{folder.name}.saving-*"):
        for leftover in folder.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)

    def fill(staging: Path) -> None:
        if generation_config is not None:
            model.generation_config = generation_config
        brings_pipeline = _gives_translation_pipeline(model)
        model.save_pretrained(staging)  # with the model and config code, the pipeline code it imports
        if brings_pipeline:
            shutil.copyfile(Path(pipeline_module.__file__), staging / Path(pipeline_module.__file__).name)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
        if metrics is not None:
            (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")  # examples in showcase order
        if extra is not None:
            extra(staging)

    write_staged(folder, fill, whole_folder=True)  # refuses a plain file in the folder's place
    return folder


# What a model repo needs, and nothing else: a folder may also hold checkpoints (optimizer state, a pickled
# training_args.bin), credentials (.env, .netrc) or notes, which must never leave the machine by accident.
UPLOAD_PATTERNS = ("*.safetensors", "model.safetensors.index.json", "config.json", "generation_config.json",
                   "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "configuration_*.py", "modeling_*.py", "generation_*.py", "pipeline_*.py", "README.md", "*.png",
                   "*.jpg", "*.svg", "metrics.json", "training_log.json")


def upload_listing(folder: str | Path) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    """`(sent, left)`: the files of `folder` that an upload sends (name, size in bytes), and the others with why they
    stay. Only top-level files that match `UPLOAD_PATTERNS` go; a symlink that leads out of the folder is an error."""
    folder = Path(folder)
    root = folder.resolve()
    sent, left = [], []
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            try:
                path.resolve(strict=True)
            except (OSError, RuntimeError) as error:  # a loop (RuntimeError before Python 3.13) or a broken link
                raise ValueError(f"{name} is a symlink that leads nowhere ({type(error).__name__}: a loop or a "
                                 "missing target): remove or replace it, then push again.") from None
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            raise PermissionError(f"{name} is a symlink to {path.resolve()}, outside {folder}: refusing to upload "
                                  "what it points to. Replace it with the file itself or remove it.")
        if path.is_dir():
            continue
        if "/" in name:
            left.append((name, "in a subfolder"))
        elif not any(fnmatch.fnmatch(name, pattern) for pattern in UPLOAD_PATTERNS):
            left.append((name, "not a model repo file"))
        else:
            sent.append((name, path.stat().st_size))
    return sent, left


def upload_contents(folder: str | Path, repo_id: str) -> list[tuple[str, bytes | Path]]:
    """What a push of `folder` to `repo_id` sends: `(path in the repo, file or bytes)` for every file of
    `upload_listing`, with the model card's usage snippet pointing at `repo_id` (the folder itself is left as it
    is)."""
    from model_cards.generate import with_model_id

    folder = Path(folder)
    contents: list[tuple[str, bytes | Path]] = []
    for name, _ in upload_listing(folder)[0]:
        path = folder / name
        if name == "README.md":
            contents.append((name, with_model_id(path.read_text(encoding="utf-8"), repo_id).encode()))
        else:
            contents.append((name, path))
    return contents


def saved_model_type(name_or_path: str | Path) -> str | None:
    """The `model_type` in the config.json of a local model folder or a Hub repo, with errors that say which of the
    two was meant: a path that does not exist is "no such folder", not a malformed repo id."""
    import os

    text = str(name_or_path)
    folder = Path(text).expanduser()
    if folder.is_dir():
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"{folder} has no config.json: not a saved model folder.")
    elif folder.exists():
        raise NotADirectoryError(f"{folder} is a file; give the model's folder.")
    else:
        from huggingface_hub.utils import validate_repo_id

        looks_like_path = text.startswith((".", os.sep, "~")) or text.endswith(os.sep)
        try:
            validate_repo_id(text)
        except ValueError:
            looks_like_path = True
        if looks_like_path:
            raise FileNotFoundError(f"{text}: no such folder.")
        from huggingface_hub import hf_hub_download

        try:
            config_path = Path(hf_hub_download(text, "config.json"))
        except Exception as error:  # offline, no such repo, no network: say both readings
            raise FileNotFoundError(f"{text}: no such folder here, and no model config could be fetched from the "
                                    f"Hub under that id ({type(error).__name__}).") from None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{config_path} cannot be read as JSON ({error}).") from None
    return config.get("model_type") if isinstance(config, dict) else None


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except ValueError as error:
        raise ValueError(f"--repo-id {repo_id!r} is not a Hub repo id ('name' or 'namespace/name': letters, digits, "
                         "'-', '_' and '.'; no '..' or leading '/').") from error


def _is_network_error(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return isinstance(error, OSError) or bool(names & {"TransportError", "NetworkError", "ConnectionError"})


def _commit(repo_id: str, contents: list[tuple[str, bytes | Path]], token: str | None, private: bool,
            commit_message: str, repo_type: str = "model", **create_kwargs) -> str:
    """Create `repo_id` if needed and send `contents` in one commit; raises before sending anything when no token is
    available, and names the Hub when it cannot be reached."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    token = token or get_token()
    if not token:
        raise PermissionError("No Hugging Face token: pass --token, set HF_TOKEN, or run `hf auth login` first.")
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=content if isinstance(content, bytes)
                                     else str(content)) for name, content in contents]
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type, **create_kwargs)
        commit = api.create_commit(repo_id=repo_id, operations=operations, commit_message=commit_message,
                                   repo_type=repo_type)
    except Exception as error:
        if _is_network_error(error):
            raise ConnectionError(f"Cannot reach the Hugging Face Hub to push {repo_id} ({error}). Check the network "
                                  "connection (and HF_ENDPOINT, HF_HUB_OFFLINE), then push again.") from None
        raise
    return str(getattr(commit, "commit_url", commit))


def push_folder(folder: str | Path, repo_id: str, token: str | None = None, private: bool = False,
                commit_message: str = "Upload AttnSeq2Seq model") -> str:
    """Upload the model files of `folder` to the Hub in one commit (the card's snippet names `repo_id`); raises
    before sending anything when no token is available."""
    check_repo_id(repo_id)
    folder = Path(folder)
    if not (folder / "config.json").exists() or not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"{folder} is not an exported model folder (config.json and model.safetensors).")
    return _commit(repo_id, upload_contents(folder, repo_id), token, private, commit_message)


# The Space: the package's demo app on the model repo. The package has no release on an index a Space can install
# from, so by default the Space carries the package's own source beside app.py and installs its dependencies.
SPACE_GRADIO_FALLBACK = "6.0.0"  # sdk_version when Gradio is not installed here (the demo extra's floor)
SPACE_APP = '''"""The demo of {model_id}: type a source, read the output, watch the attention."""

from hf_attn_seq2seq.demo import main


main([{model_id!r}])
'''
PACKAGE_NAME = "hf_attn_seq2seq"


def default_space_id(repo_id: str) -> str:
    return f"{repo_id}-demo"


def space_requirements() -> list[str]:
    """The requirement lines of this package's dependencies and its demo extra (what the carried source needs)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        declared = requires(PACKAGE_NAME) or []
    except PackageNotFoundError as error:
        raise FileNotFoundError(f"{PACKAGE_NAME} is not installed, so its dependencies are unknown: install it "
                                "(pip install -e .) or pass --package-requirement.") from error
    lines = []
    for line in declared:
        requirement, _, marker = line.partition(";")
        if not marker.strip() or marker.replace(" ", "").replace("'", '"') == 'extra=="demo"':
            lines.append(requirement.strip())
    return lines


def package_source_files() -> list[tuple[str, bytes]]:
    """This package's importable source (modules, presets, metrics scripts) as `(path in the Space, bytes)`."""
    root = Path(__file__).resolve().parent
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            files.append((f"{PACKAGE_NAME}/{path.relative_to(root).as_posix()}", path.read_bytes()))
    return files


SPACE_MODEL_TYPES = ("attn_seq2seq", "ntm")  # the demo's text view and its memory view


def check_space_fits(folder: str | Path) -> None:
    """The demo Space serves the attention seq2seq and the Neural Turing Machine; refuse a folder of another model
    (e.g. the NTM's LSTM baseline) before anything is sent."""
    config_path = Path(folder) / "config.json"
    model_type = json.loads(config_path.read_text()).get("model_type") if config_path.is_file() else None
    if model_type not in SPACE_MODEL_TYPES:
        raise ValueError(f"--space: the demo serves attn_seq2seq and ntm models, and {folder} holds "
                         f"{'a ' + repr(model_type) if model_type else 'no'} model. Push it without --space.")


def space_contents(repo_id: str, space_id: str, requirement: str | None = None) -> list[tuple[str, bytes]]:
    """The files of a Gradio Space that serves the demo on the model `repo_id`: `app.py`, `requirements.txt` and a
    README whose metadata declares the SDK and the model. By default the Space carries this package's source
    (`hf_attn_seq2seq/...`) and requires its dependencies; with `requirement` (e.g. a git URL or a release on an
    index) it installs the package from there instead."""
    from importlib.metadata import PackageNotFoundError, version

    check_repo_id(repo_id)
    check_repo_id(space_id)
    if requirement is not None and (not requirement.strip() or "\n" in requirement):
        raise ValueError(f"--package-requirement {requirement!r} must be one requirement line.")
    requirements = [requirement.strip()] if requirement is not None else space_requirements()
    try:
        gradio_version = version("gradio")
    except PackageNotFoundError:
        gradio_version = SPACE_GRADIO_FALLBACK
    title = space_id.rsplit("/", 1)[-1]
    readme = (f"---\ntitle: {title}\nemoji: 🔎\ncolorFrom: blue\ncolorTo: indigo\nsdk: gradio\n"
              f"sdk_version: {gradio_version}\napp_file: app.py\npinned: false\nlicense: apache-2.0\n"
              f"models:\n- {repo_id}\n---\n\n# {title}\n\nThe interactive demo of [{repo_id}]"
              f"(https://huggingface.co/{repo_id}), an LSTM encoder-decoder with attention: type a source, read the "
              "output and the attention heatmap, try greedy and beam search (GNMT length normalisation and coverage "
              "penalty).\n\nThe app is `hf_attn_seq2seq.demo`; locally: `python -m hf_attn_seq2seq.demo "
              f"{repo_id}`.\n")
    contents = [("app.py", SPACE_APP.format(model_id=repo_id).encode()),
                ("requirements.txt", "".join(f"{line}\n" for line in requirements).encode()),
                ("README.md", readme.encode())]
    return contents + (package_source_files() if requirement is None else [])


def push_space(repo_id: str, space_id: str, token: str | None = None, private: bool = False,
               requirement: str | None = None) -> str:
    """Create or update the Gradio Space `space_id` serving the demo on the model `repo_id`, in one commit."""
    contents = space_contents(repo_id, space_id, requirement)
    return _commit(space_id, contents, token, private, f"Demo of {repo_id}", repo_type="space", space_sdk="gradio")


__all__ = ["UPLOAD_PATTERNS", "check_repo_id", "check_space_fits", "default_space_id", "generation_config_for",
           "push_folder", "push_space", "saved_model_type", "space_contents", "upload_contents",
           "upload_listing", "write_model_folder"]
