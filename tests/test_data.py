"""Toy-task generators checked by independent parsers; translation loaders on fixture files of every layout."""

import datetime
import gzip
import json
import re
from pathlib import Path

import pytest

from hf_attn_seq2seq.data import DataFileError, load_task, load_translation


MULTI30K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"

# Independent reading of every date family (strptime is case-insensitive for month and weekday names).
STRPTIME_FORMATS = {
    "month_day_year": "%B %d, %Y",
    "mon_day_year": "%b %d, %Y",
    "weekday_month_day_year": "%A, %B %d, %Y",
    "wkd_mon_day_year": "%a, %b %d, %Y",
    "day_mon_year": "%d %b %Y",
    "day_month_year": "%d %B %Y",
    "weekday_day_month_year": "%A %d %B %Y",
    "month_day_year_no_comma": "%B %d %Y",
    "m/d/yyyy": "%m/%d/%Y",
    "d.m.yyyy": "%d.%m.%Y",
    "iso": "%Y-%m-%d",
    "yyyy/mm/dd": "%Y/%m/%d",
}
TWO_DIGIT_YEAR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2})$")


def parse_date(text: str) -> tuple[set[datetime.date], set[str]]:
    dates, families = set(), set()
    for family, pattern in STRPTIME_FORMATS.items():
        try:
            parsed = datetime.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        if "%A" in pattern or "%a" in pattern:
            weekday = text.split(",")[0].split(" ")[0].lower()
            assert parsed.strftime("%A").lower().startswith(weekday), f"wrong weekday in {text!r}"
        dates.add(parsed)
        families.add(family)
    if match := TWO_DIGIT_YEAR.match(text):
        month, day, year = (int(g) for g in match.groups())
        dates.add(datetime.date(1900 + year if year >= 50 else 2000 + year, month, day))
        families.add("m/d/yy")
    return dates, families


@pytest.fixture(scope="module")
def date_task():
    return load_task("date", num_examples=4000, seed=3)


def test_date_targets_are_the_iso_date_of_their_source(date_task):
    seen_families, seen_cases = set(), set()
    for split in date_task.values():
        for source, target in zip(split["source"], split["target"]):
            dates, families = parse_date(source)
            assert dates == {datetime.date.fromisoformat(target)}, (source, target)
            seen_families |= families
            letters = "".join(c for c in source if c.isalpha())
            if letters:
                seen_cases.add("upper" if letters.isupper() else "lower" if letters.islower() else "title")
    assert seen_families == set(STRPTIME_FORMATS) | {"m/d/yy"}
    assert seen_cases == {"upper", "lower", "title"}


def test_date_years_span_a_wide_range(date_task):
    years = [int(t[:4]) for t in date_task["train"]["target"]]
    assert min(years) < 1750 and max(years) > 2050


def test_tasks_are_deterministic_per_seed_and_differ_across_seeds():
    first, again, other = (load_task("date", 300, seed=s) for s in (7, 7, 8))
    assert first["train"]["source"] == again["train"]["source"]
    assert first["test"]["target"] == again["test"]["target"]
    assert first["train"]["source"] != other["train"]["source"]


def test_default_date_size_and_split_proportions():
    task = load_task("date")
    assert {name: len(split) for name, split in task.items()} == {"train": 45000, "validation": 2500, "test": 2500}


@pytest.mark.parametrize("name", ["date", "addition", "reverse"])
def test_no_source_is_shared_between_splits(name):
    task = load_task(name, 3000, seed=1)
    splits = [set(task[s]["source"]) for s in ("train", "validation", "test")]
    assert sum(len(s) for s in splits) == 3000
    assert not (splits[0] & splits[1]) and not (splits[0] & splits[2]) and not (splits[1] & splits[2])


def test_addition_targets_are_correct():
    task = load_task("addition", 3000, seed=2)
    digits = set()
    for split in task.values():
        for source, target in zip(split["source"], split["target"]):
            left, right = source.split("+")
            digits.update((len(left), len(right)))
            assert int(target) == int(left) + int(right) and str(int(left)) == left
    assert digits == {1, 2, 3}


def test_reverse_targets_are_correct():
    task = load_task("reverse", 2000, seed=2)
    for split in task.values():
        for source, target in zip(split["source"], split["target"]):
            assert target == "".join(reversed(source)) and source.isalnum()


def test_unknown_task_and_bad_size_are_rejected():
    with pytest.raises(ValueError, match="Unknown task 'sort'; expected one of 'date', 'addition', 'reverse'"):
        load_task("sort")
    with pytest.raises(ValueError, match="num_examples must be an integer of at least 3"):
        load_task("date", num_examples=0)


# --- translation -------------------------------------------------------------------------------------------------

PAIRS = [("Ein Hund läuft.", "A dog runs."), ("Zwei Männer über Größe.", "Two men on size."), ("Café!", "Coffee!")]


def write_lines(path: Path, lines: list[str], compress: bool = False) -> None:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("compress", [False, True])
def test_parallel_text_folder(tmp_path, compress):
    for split in ("train", "val", "test_2016"):
        write_lines(tmp_path / f"{split}.de", [p[0] for p in PAIRS], compress)
        write_lines(tmp_path / f"{split}.en", [p[1] for p in PAIRS], compress)
    data = load_translation(tmp_path, "de", "en")
    assert sorted(data) == ["test_2016", "train", "validation"]
    assert list(zip(data["validation"]["source"], data["validation"]["target"])) == PAIRS
    reverse = load_translation(tmp_path, "en", "de")
    assert reverse["train"]["source"] == [p[1] for p in PAIRS]


def test_tsv_file_with_and_without_header(tmp_path):
    plain = tmp_path / "plain.tsv"
    plain.write_text("".join(f"{de}\t{en}\n" for de, en in PAIRS), encoding="utf-8")
    assert list(zip(load_translation(plain, "de", "en")["train"]["source"], [p[1] for p in PAIRS]))
    headed = tmp_path / "headed.tsv"
    headed.write_text("en\tde\n" + "".join(f"{en}\t{de}\n" for de, en in PAIRS), encoding="utf-8")
    data = load_translation(headed, "de", "en")["train"]
    assert list(zip(data["source"], data["target"])) == PAIRS


def test_jsonl_folder_by_split(tmp_path):
    for split in ("train", "validation"):
        rows = [{"translation": {"de": de, "en": en}} if i % 2 else {"de": de, "en": en}
                for i, (de, en) in enumerate(PAIRS)]
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = load_translation(tmp_path, "de", "en", required_splits=("train", "validation"))
    assert list(zip(data["validation"]["source"], data["validation"]["target"])) == PAIRS


def test_hub_dataset_path_through_datasets_offline(tmp_path):
    rows = [{"translation": {"de": de, "en": en}} for de, en in PAIRS]
    for split in ("train", "test"):
        (tmp_path / f"{split}.json").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    files = {split: str(tmp_path / f"{split}.json") for split in ("train", "test")}
    data = load_translation("json", "de", "en", data_files=files)
    assert list(zip(data["test"]["source"], data["test"]["target"])) == PAIRS


@pytest.mark.parametrize(
    ("make_files", "message"),
    [
        (lambda d: (write_lines(d / "train.de", ["a", "b"]), write_lines(d / "train.en", ["a"])),
         r"train.de has 2 lines but .*train.en has 1"),
        (lambda d: (write_lines(d / "train.de", ["a"]),), r"no files for language 'en'"),
        (lambda d: (write_lines(d / "train.de", ["a"]), write_lines(d / "train.en", ["a"]),
                    write_lines(d / "val.de", ["a"])), r"split 'val' has a 'de' file but no 'en' file"),
        (lambda d: ((d / "train.de").write_bytes(b""), write_lines(d / "train.en", ["a"])),
         r"train.de: the file is empty"),
        (lambda d: (write_lines(d / "train.de", ["a", "", "c"]), write_lines(d / "train.en", ["a", "b", "c"])),
         r"train.de, line 2: the line is empty"),
        (lambda d: ((d / "train.de").write_bytes(b"ok\n\xff\xfe bad\n"), write_lines(d / "train.en", ["a", "b"])),
         r"train.de, line 2: not valid UTF-8"),
        (lambda d: (write_lines(d / "test.de", ["a"]), write_lines(d / "test.en", ["a"])),
         r"missing split\(s\) \['train'\]"),
        (lambda d: ((d / "train.tsv").write_text("a\tb\nc\n"),), r"train.tsv, line 2: 1 tab-separated columns"),
        (lambda d: ((d / "train.jsonl").write_text('{"de": "a", "en": "b"}\n{"de": "a"}\n'),),
         r"train.jsonl, line 2: expected"),
        (lambda d: ((d / "train.jsonl").write_text('{"de": "a", "en": "b"}\n{oops\n'),),
         r"train.jsonl, line 2: not valid JSON"),
    ],
    ids=["misaligned", "missing-language", "missing-split-file", "empty-file", "empty-line", "not-utf8",
         "missing-split", "tsv-columns", "jsonl-keys", "jsonl-syntax"],
)
def test_bad_files_raise_errors_naming_file_and_line(tmp_path, make_files, message):
    make_files(tmp_path)
    with pytest.raises(DataFileError, match=message):
        load_translation(tmp_path, "de", "en")


def test_missing_path_and_same_language_are_rejected(tmp_path):
    with pytest.raises(DataFileError, match="no such file or folder"):
        load_translation(tmp_path / "nowhere.tsv", "de", "en")
    with pytest.raises(ValueError, match="both 'de'"):
        load_translation(tmp_path, "de", "de")


@pytest.mark.skipif(not MULTI30K.is_dir(), reason="../shared/data/multi30k is not present")
def test_multi30k_splits_are_aligned():
    data = load_translation(MULTI30K, "de", "en")
    sizes = {split: len(data[split]) for split in ("train", "validation", "test_2016_flickr")}
    assert sizes == {"train": 29000, "validation": 1014, "test_2016_flickr": 1000}
    assert data["validation"][0]["source"].startswith("Eine Gruppe von Männern")
    assert data["validation"][0]["target"].startswith("A group of men")


def test_byte_order_mark_is_dropped_from_text_and_tsv_files(tmp_path):
    bom = b"\xef\xbb\xbf"
    (tmp_path / "train.de").write_bytes(bom + b"ein Haus\nzwei\n")
    (tmp_path / "train.en").write_bytes(bom + b"a house\ntwo\n")
    data = load_translation(tmp_path, "de", "en")
    assert data["train"]["source"] == ["ein Haus", "zwei"] and data["train"]["target"] == ["a house", "two"]
    table = tmp_path / "table.tsv"
    table.write_bytes(bom + b"de\ten\nhallo\thello\n")
    data = load_translation(table, "de", "en")  # the header is recognised, not read as a pair
    assert data["train"]["source"] == ["hallo"] and data["train"]["target"] == ["hello"]


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n"], ids=["lone-cr", "crlf", "lf"])
def test_any_line_ending_gives_the_same_lines(tmp_path, ending):
    (tmp_path / "train.de").write_bytes(ending.join([b"eins", b"zwei", b"drei"]) + ending)
    (tmp_path / "train.en").write_bytes(ending.join([b"one", b"two", b"three"]))
    data = load_translation(tmp_path, "de", "en")
    assert data["train"]["source"] == ["eins", "zwei", "drei"] and data["train"]["target"] == ["one", "two", "three"]
