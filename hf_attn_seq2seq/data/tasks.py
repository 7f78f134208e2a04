"""Datasets for the toy tasks (generated locally) and for translation corpora (local files or the Hub).

Every loader returns a `datasets.DatasetDict` whose splits have the string columns `source` and `target`.
"""

import functools
import gzip
import json
import random
import string
from pathlib import Path

import datasets

from .dates import DateSampler, check_languages


TASKS = ("date", "addition", "reverse")
DEFAULT_SIZES = {"date": 50_000, "addition": 50_000, "reverse": 20_000}
SPLIT_FRACTIONS = {"train": 0.9, "validation": 0.05, "test": 0.05}
# Folder splits named like Moses/Multi30k files map to the usual DatasetDict names.
SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation"}

# --------------------------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------------------------

# The date generator (CLDR's patterns through Babel, informal forms, the book's formats) lives in `dates`.


def _date_example(rng: random.Random, languages=None) -> tuple[str, str]:
    sample = _date_sampler(None if languages is None else tuple(check_languages(languages))).sample(rng)
    return sample.source, sample.target


@functools.cache
def _date_sampler(languages: tuple[str, ...] | None) -> DateSampler:
    return DateSampler(languages)


def _addition_example(rng: random.Random) -> tuple[str, str]:
    a, b = (rng.randint(0, 10 ** rng.randint(1, 3) - 1) for _ in range(2))
    return f"{a}+{b}", str(a + b)


REVERSE_ALPHABET = string.ascii_lowercase + string.digits


REVERSE_LENGTHS = (3, 12)  # shortest and longest training string


def _reverse_example(rng: random.Random, lengths: tuple[int, int] = REVERSE_LENGTHS) -> tuple[str, str]:
    text = "".join(rng.choice(REVERSE_ALPHABET) for _ in range(rng.randint(*lengths)))
    return text, text[::-1]


EXAMPLE_GENERATORS = {"date": _date_example, "addition": _addition_example, "reverse": _reverse_example}


def load_task(name: str, num_examples: int | None = None, seed: int = 0, **generator_options) -> datasets.DatasetDict:
    """A toy task as `DatasetDict(train, validation, test)` with `source`/`target` strings, generated locally.

    - `"date"`: a date as people write it -> ISO 8601 `YYYY-MM-DD` (default 50,000 examples): CLDR's patterns in
      several languages, informal forms and the book's formats (see `dates`); `languages=["en", "de"]` chooses the
      languages (default: all of `dates.LANGUAGES`; numeric forms are always in).
    - `"addition"`: `"a+b"` -> the sum, operands of 1-3 digits (default 50,000).
    - `"reverse"`: a random string -> the string reversed (default 20,000).
    - `"copy"`: the Neural Turing Machine's copy task, sequences of bit vectors rather than text (see
      `ntm_tasks.load_copy_task` for its splits; default 160,000 training sequences).
    - `"repeat_copy"`, `"associative_recall"`, `"ngrams"`, `"priority_sort"`: the paper's other tasks of bit vectors
      (`ntm_paper_tasks`).

    The same `seed` gives the same data; sources are unique, so no source appears in two splits. `generator_options`
    go to the task's generator (`languages` for the date task).
    """
    from .ntm_tasks import BIT_TASKS

    if name in BIT_TASKS:
        if generator_options:
            raise ValueError(f"Task {name!r} takes no options; got {', '.join(sorted(generator_options))}.")
        return BIT_TASKS[name].load(num_examples, seed)
    if name not in EXAMPLE_GENERATORS:
        names = ", ".join(repr(task) for task in TASKS + tuple(BIT_TASKS))
        raise ValueError(f"Unknown task {name!r}; expected one of {names}.")
    if generator_options and name != "date":
        raise ValueError(f"Task {name!r} takes no options; got {', '.join(sorted(generator_options))}.")
    num_examples = DEFAULT_SIZES[name] if num_examples is None else num_examples
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 3:
        raise ValueError(f"num_examples must be an integer of at least 3 (one per split), got {num_examples!r}.")
    rng = random.Random(f"{name}-{seed}")
    generate = EXAMPLE_GENERATORS[name]
    examples: dict[str, str] = {}
    attempts = 0
    while len(examples) < num_examples:
        source, target = generate(rng, **generator_options)
        examples.setdefault(source, target)
        attempts += 1
        if attempts > 20 * num_examples + 1000:
            raise ValueError(f"Task {name!r} has fewer than {num_examples} distinct sources; ask for fewer.")
    pairs = list(examples.items())
    rng.shuffle(pairs)
    num_validation = max(1, round(num_examples * SPLIT_FRACTIONS["validation"]))
    num_test = max(1, round(num_examples * SPLIT_FRACTIONS["test"]))
    bounds = {
        "train": (0, num_examples - num_validation - num_test),
        "validation": (num_examples - num_validation - num_test, num_examples - num_test),
        "test": (num_examples - num_test, num_examples),
    }
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {"source": [s for s, _ in pairs[start:end]], "target": [t for _, t in pairs[start:end]]}
            )
            for split, (start, end) in bounds.items()
        }
    )


def fresh_task_sources(name: str, num_examples: int, seed: int, exclude=(), **generator_options) -> list[str]:
    """`num_examples` distinct sources of toy task `name`, drawn with a generator seeded apart from `load_task`'s
    and none of them in `exclude` (e.g. the training sources): a held-out set of any size. `generator_options` go
    to the task's generator (the reversal task takes `lengths=(low, high)`)."""
    if name not in EXAMPLE_GENERATORS:
        raise ValueError(f"Unknown task {name!r}; expected one of {', '.join(repr(t) for t in TASKS)}.")
    rng = random.Random(f"{name}-fresh-{seed}")
    excluded, sources = set(exclude), {}
    for _ in range(50 * num_examples + 1000):
        source, _ = EXAMPLE_GENERATORS[name](rng, **generator_options)
        if source not in excluded:
            sources.setdefault(source, None)
            if len(sources) == num_examples:
                return list(sources)
    raise ValueError(f"Task {name!r} has fewer than {num_examples} sources outside the excluded ones.")


# --------------------------------------------------------------------------------------------------------------------
# Translation
# --------------------------------------------------------------------------------------------------------------------


class DataFileError(ValueError):
    """A data file is missing, misaligned, empty, malformed or not UTF-8; the message names the file and line."""


def read_lines(path: Path) -> list[str]:
    """The stripped lines of a UTF-8 text file, plain or gzipped; empty lines and bad bytes raise `DataFileError`.

    A byte-order mark at the start is dropped, and lines may end in `\n`, `\r\n` or a lone `\r` (old Mac files).
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataFileError(f"{path}: cannot be read ({error}).") from error
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # UTF-8 BOM, which editors on Windows write
    raw_lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the final newline
    if not raw_lines:
        raise DataFileError(f"{path}: the file is empty.")
    lines = []
    for number, raw_line in enumerate(raw_lines, start=1):
        try:
            line = raw_line.decode("utf-8").strip()
        except UnicodeDecodeError as error:
            message = f"{path}, line {number}: not valid UTF-8 ({error.reason} at byte {error.start})."
            raise DataFileError(message) from error
        if not line:
            raise DataFileError(f"{path}, line {number}: the line is empty.")
        lines.append(line)
    return lines


def _split_name(stem: str) -> str:
    return SPLIT_ALIASES.get(stem, stem)


def _parallel_text_files(folder: Path, source_lang: str, target_lang: str) -> dict[str, tuple[Path, Path]]:
    """`{split}.{lang}` or `{split}.{lang}.gz` pairs in `folder`, keyed by split name."""
    by_language: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        stem, dot, language = name.rpartition(".")
        if dot and stem:
            by_language.setdefault(language, {})[stem] = path
    for language in (source_lang, target_lang):
        if language not in by_language:
            found = ", ".join(sorted(by_language)) or "none"
            raise DataFileError(f"{folder}: no files for language {language!r} (`<split>.{language}` or "
                                f"`<split>.{language}.gz`); languages found: {found}.")
    source_files, target_files = by_language[source_lang], by_language[target_lang]
    for stem in sorted(set(source_files) ^ set(target_files)):
        present, missing = (source_lang, target_lang) if stem in source_files else (target_lang, source_lang)
        raise DataFileError(f"{folder}: split {stem!r} has a {present!r} file but no {missing!r} file.")
    return {_split_name(stem): (source_files[stem], target_files[stem]) for stem in source_files}


def _read_parallel_folder(folder: Path, source_lang: str, target_lang: str) -> dict[str, dict[str, list[str]]]:
    splits = {}
    for split, (source_path, target_path) in _parallel_text_files(folder, source_lang, target_lang).items():
        sources, targets = read_lines(source_path), read_lines(target_path)
        if len(sources) != len(targets):
            raise DataFileError(f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}: "
                                "parallel files must align line by line.")
        splits[split] = {"source": sources, "target": targets}
    return splits


def _read_tsv(path: Path, source_lang: str, target_lang: str) -> dict[str, list[str]]:
    rows = [line.split("\t") for line in read_lines(path)]
    start = 0
    if rows[0] == [source_lang, target_lang]:
        start = 1  # header
    elif rows[0] == [target_lang, source_lang]:
        rows = [row[::-1] for row in rows]
        start = 1
    for number, row in enumerate(rows[start:], start=start + 1):
        if len(row) != 2:
            raise DataFileError(f"{path}, line {number}: {len(row)} tab-separated columns; expected 2 "
                                f"({source_lang}<TAB>{target_lang}).")
    return {"source": [row[0] for row in rows[start:]], "target": [row[1] for row in rows[start:]]}


def _pair_from_record(record: dict, source_lang: str, target_lang: str) -> tuple[str, str] | None:
    pair = record.get("translation", record)
    if isinstance(pair, dict) and isinstance(pair.get(source_lang), str) and isinstance(pair.get(target_lang), str):
        return pair[source_lang], pair[target_lang]
    return None


class _RepeatedKey(ValueError):
    pass


def _object_without_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object, refusing a key given twice (plain `json.loads` keeps the last silently)."""
    record = {}
    for key, value in pairs:
        if key in record:
            raise _RepeatedKey(key)
        record[key] = value
    return record


def _read_jsonl(path: Path, source_lang: str, target_lang: str) -> dict[str, list[str]]:
    sources, targets = [], []
    for number, line in enumerate(read_lines(path), start=1):
        try:
            record = json.loads(line, object_pairs_hook=_object_without_repeated_keys)
        except json.JSONDecodeError as error:
            raise DataFileError(f"{path}, line {number}: not valid JSON ({error.msg}).") from error
        except _RepeatedKey as repeated:
            raise DataFileError(f"{path}, line {number}: the key {repeated.args[0]!r} appears twice; which value is "
                                "meant cannot be told.") from None
        pair = _pair_from_record(record, source_lang, target_lang) if isinstance(record, dict) else None
        if pair is None:
            raise DataFileError(f"{path}, line {number}: expected {{{source_lang!r}: ..., {target_lang!r}: ...}} "
                                "strings, directly or under 'translation'.")
        sources.append(pair[0])
        targets.append(pair[1])
    return {"source": sources, "target": targets}


TABLE_READERS = {".tsv": _read_tsv, ".jsonl": _read_jsonl}


def _table_suffix(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return suffixes[-1] if suffixes else ""


def _read_local(path: Path, source_lang: str, target_lang: str) -> dict[str, dict[str, list[str]]]:
    if path.is_file():
        suffix = _table_suffix(path)
        if suffix not in TABLE_READERS:
            raise DataFileError(f"{path}: unsupported file type {suffix!r}; expected .tsv or .jsonl (optionally "
                                "gzipped), or a folder of parallel text files.")
        return {"train": TABLE_READERS[suffix](path, source_lang, target_lang)}
    tables = [p for p in sorted(path.iterdir()) if p.is_file() and _table_suffix(p) in TABLE_READERS]
    if tables:
        return {_split_name(p.name.split(".")[0]): TABLE_READERS[_table_suffix(p)](p, source_lang, target_lang)
                for p in tables}
    return _read_parallel_folder(path, source_lang, target_lang)


def _from_hub_dataset(dataset: datasets.DatasetDict, source_lang: str, target_lang: str) -> datasets.DatasetDict:
    result = {}
    for split, table in dataset.items():
        if "translation" in table.column_names:
            pairs = table["translation"]
            missing = {source_lang, target_lang} - set(pairs[0] if len(pairs) else {})
            if missing:
                raise ValueError(f"Split {split!r}: the 'translation' column has no language(s) {sorted(missing)}.")
            columns = {"source": [p[source_lang] for p in pairs], "target": [p[target_lang] for p in pairs]}
        elif {source_lang, target_lang} <= set(table.column_names):
            columns = {"source": table[source_lang], "target": table[target_lang]}
        else:
            raise ValueError(f"Split {split!r} has columns {table.column_names}; expected a 'translation' column "
                             f"or the columns {source_lang!r} and {target_lang!r}.")
        result[SPLIT_ALIASES.get(split, split)] = datasets.Dataset.from_dict(columns)
    return datasets.DatasetDict(result)


def load_translation(
    source: str | Path,
    source_lang: str,
    target_lang: str,
    required_splits: tuple[str, ...] = ("train",),
    **load_dataset_kwargs,
) -> datasets.DatasetDict:
    """Parallel text as `DatasetDict(source, target)`.

    `source` is either a local path or a dataset name for `datasets.load_dataset` (extra keyword arguments go to
    it, e.g. `name=` for a configuration or `data_files=`). Local layouts:

    - a folder of parallel text files `{split}.{lang}` or `{split}.{lang}.gz` (Moses / Multi30k style; `val`, `valid`
      and `dev` become `validation`);
    - a `.tsv` file (`source<TAB>target`, optional header with the language codes) or a `.jsonl` file
      (`{"translation": {lang: text}}` or `{lang: text}` per line), read as `train`; or a folder of such files named
      by split.

    Misaligned, empty, malformed or non-UTF-8 files raise `DataFileError` naming the file and line.
    """
    if source_lang == target_lang:
        raise ValueError(f"source_lang and target_lang are both {source_lang!r}; give two different languages.")
    path = Path(source)
    if path.exists():
        splits = _read_local(path, source_lang, target_lang)
        dataset = datasets.DatasetDict({name: datasets.Dataset.from_dict(columns) for name, columns in splits.items()})
    elif str(source).startswith((".", "/", "~")) or Path(str(source)).suffix in (".tsv", ".jsonl", ".gz"):
        raise DataFileError(f"{source}: no such file or folder.")
    else:
        dataset = _from_hub_dataset(datasets.load_dataset(str(source), **load_dataset_kwargs), source_lang,
                                    target_lang)
    missing = [split for split in required_splits if split not in dataset]
    if missing:
        raise DataFileError(f"{source}: missing split(s) {missing}; found {sorted(dataset)}.")
    return dataset


__all__ = ["DataFileError", "fresh_task_sources", "load_task", "load_translation", "read_lines"]
