"""Toy-task generators checked by independent parsers; translation loaders on fixture files of every layout."""

import datetime
import gzip
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hf_attn_seq2seq.data.dates import BOOK_FORMATS, LANGUAGES, NUMERIC, DateSampler, date_families, date_forms
from hf_attn_seq2seq.data.tasks import DataFileError, load_task, load_translation


MULTI30K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"

# The book's formats read back with strptime (case-insensitive for month and weekday names).
BOOK_STRPTIME_FORMATS = {
    "month_day_year": "%B %d, %Y",
    "mon_day_year": "%b %d, %Y",
    "weekday_month_day_year": "%A, %B %d, %Y",
    "wkd_mon_day_year": "%a, %b %d, %Y",
    "day_mon_year": "%d %b %Y",
    "day_month_year": "%d %B %Y",
    "weekday_day_month_year": "%A %d %B %Y",
    "month_day_year_no_comma": "%B %d %Y",
    "m/d/yy": "%m/%d/%y",
    "m/d/yyyy": "%m/%d/%Y",
    "mm/dd/yyyy": "%m/%d/%Y",
    "d.m.yyyy": "%d.%m.%Y",
    "dd.mm.yyyy": "%d.%m.%Y",
    "iso": "%Y-%m-%d",
    "yyyy/mm/dd": "%Y/%m/%d",
}
SAMPLES_PER_FAMILY_AND_LANGUAGE = 25
FOUR_DIGIT_YEAR_FIRST = re.compile(r"^\D*\d{4}(?!\d)")
DAY_ABOVE_TWELVE_FIRST = re.compile(r"^\D*(1[3-9]|2\d|3[01])\D")
DOTTED_DAY_AND_MONTH = re.compile(r"\d\.\s?\d")
# What dateparser 1.5 cannot read, written as it reads it: fr-CA's `juill.` (it knows `juil.`) and ja's Monday
# `月曜日` straight after `日` (it takes the 月 for a month). Both writings are CLDR's; the readings are dateparser's.
DATEPARSER_SPELLINGS = {"juill.": "juil.", "Juill.": "Juil.", "JUILL.": "JUIL.", "日月曜日": "日 月曜日"}


def convention_order(source: str) -> str:
    """The documented reading of numeric fields (`dates` module docstring), as dateparser's DATE_ORDER."""
    if FOUR_DIGIT_YEAR_FIRST.match(source):
        return "YMD"
    if DOTTED_DAY_AND_MONTH.search(source) or DAY_ABOVE_TWELVE_FIRST.match(source):
        return "DMY"
    return "MDY"


def dateparser_reading(sample) -> datetime.date | None:
    dateparser = pytest.importorskip("dateparser")
    text = sample.source
    for written, readable in DATEPARSER_SPELLINGS.items():
        text = text.replace(written, readable)
    languages = None if sample.language == NUMERIC else ["zh-Hant" if "Hant" in sample.form else sample.language]
    settings = {"DATE_ORDER": convention_order(text), "REQUIRE_PARTS": ["day", "month", "year"]}
    parsed = dateparser.parse(text, languages=languages, date_formats=["%Y%m%d"], settings=settings)
    return None if parsed is None else parsed.date()


def all_family_and_language_samples(seed: int, per_cell: int = SAMPLES_PER_FAMILY_AND_LANGUAGE):
    sampler, rng = DateSampler(), random.Random(seed)
    return [sampler.sample(rng, family, language) for family, languages in date_families().items()
            for language in languages for _ in range(per_cell)]


@pytest.fixture(scope="module")
def date_samples():
    return all_family_and_language_samples(seed=11)


def test_every_date_source_parses_back_to_its_target_with_dateparser(date_samples):
    """An independent parser reads every family in every language as the target; a two-digit year's century is the
    window's, which dateparser (pivot at 1969) does not share, so only its last two digits are compared there."""
    wrong = []
    for sample in date_samples:
        target, parsed = datetime.date.fromisoformat(sample.target), dateparser_reading(sample)
        if parsed is not None and not FOUR_DIGIT_YEAR_FIRST.match(sample.source) and str(target.year) not in \
                sample.source:
            parsed = parsed.replace(year=parsed.year % 100 + target.year // 100 * 100)
        if parsed != target:
            wrong.append((sample.source, sample.target, parsed, sample.family, sample.language, sample.form))
    assert not wrong, f"{len(wrong)} of {len(date_samples)} sources read otherwise: {wrong[:10]}"


def test_two_digit_years_are_read_in_the_window_and_written_only_last(date_samples):
    two_digit = [s for s in date_samples if s.target[:4] not in s.source]
    assert len(two_digit) > 100
    for sample in two_digit:
        assert 1950 <= int(sample.target[:4]) <= 2049, sample
        assert re.search(r"\D" + sample.target[2:4] + r"\D*$", sample.source), sample


def test_day_first_numeric_dates_are_written_only_where_month_first_reads_the_same():
    """`05/03/2021` is May 3 (month first); en-GB, fr, it, pt, es, nl write their numeric day-first forms only for
    dates whose day is above 12 or equals the month."""
    rng = random.Random(5)
    day_first = [form for form in date_forms() if form.family.startswith("cldr_")
                 and re.match(r"^(E+,? )?d{1,2}[/-]M{1,2}[/-]", form.name.split(" ", 1)[1])]
    assert {form.language for form in day_first} >= {"en", "fr", "es", "it", "pt", "nl"}
    for form in day_first:
        for _ in range(40):
            # in the two-digit-year window, which some of these forms need
            date = datetime.date.fromordinal(rng.randint(*(datetime.date(y, 1, 1).toordinal() for y in (1950, 2049))))
            assert form.accepts(date) == (date.day > 12 or date.day == date.month), (form.name, date)


def test_month_first_numeric_forms_are_drawn_as_often_as_day_first_ones():
    """en-US alone writes `E, M/d/y` among en's five locales; drawn by locale it would be a rare case of the rule the
    model must learn from digits alone, so a family and language's readings are drawn equally often."""
    sampler, rng = DateSampler(["en"]), random.Random(4)
    forms = [sampler.sample(rng, "cldr_yMEd", "en").form for _ in range(2000)]
    month_first = sum(form == "en_US E, M/d/y" for form in forms) / len(forms)
    assert 0.45 < month_first < 0.55


def test_every_family_and_language_is_drawn_with_every_letter_case(date_samples):
    families = date_families()
    assert set(LANGUAGES) == {"en", "de", "fr", "es", "it", "pt", "nl", "ko", "ja", "zh"}
    assert {language for languages in families.values() for language in languages} == set(LANGUAGES) | {NUMERIC}
    informal = {"book", "ordinal", "apostrophe_year", "dashed_month", "compact_digits", "rfc2822", "iso_variants",
                "extra_spaces_commas"}
    assert informal | {f"cldr_{length}" for length in ("full", "long", "medium", "short")} <= set(families)
    seen = {(sample.family, sample.language) for sample in date_samples}
    assert seen == {(family, language) for family, languages in families.items() for language in languages}
    latin = [sample.source for sample in date_samples if sample.language in ("de", "fr", "es", "it", "pt", "nl")]
    assert any(text.isupper() for text in latin) and any(text.islower() for text in latin)
    assert any(text != text.lower() and text != text.upper() for text in latin)
    scripts = "".join(sample.source for sample in date_samples)
    for character in "년월일年月日曜星期äéçìû":
        assert character in scripts


def test_the_book_formats_are_kept_and_read_back_with_strptime():
    sampler, rng = DateSampler(), random.Random(2)
    seen = set()
    for _ in range(600):
        sample = sampler.sample(rng, "book")
        parsed = datetime.datetime.strptime(sample.source, BOOK_STRPTIME_FORMATS[sample.form]).date()
        if sample.form == "m/d/yy":
            parsed = parsed.replace(year=int(sample.target[:2] + f"{parsed.year % 100:02d}"))
        assert parsed.isoformat() == sample.target, sample
        seen.add(sample.form)
    assert seen == set(BOOK_FORMATS) == set(BOOK_STRPTIME_FORMATS)


def test_the_alphabet_holds_every_character_the_generator_writes(date_samples):
    alphabet = set(DateSampler().alphabet())
    assert {character for sample in date_samples for character in sample.source} <= alphabet
    assert set(DateSampler(["de"]).alphabet()) < alphabet and "년" not in DateSampler(["de"]).alphabet()


def test_languages_choose_what_the_date_task_writes():
    sampler = DateSampler(["de", "ko"])
    rng = random.Random(0)
    samples = [sampler.sample(rng) for _ in range(400)]
    assert {sample.language for sample in samples} == {"de", "ko", NUMERIC}
    only_english = load_task("date", 300, seed=1, languages=["en"])
    assert not set("".join(only_english["train"]["source"])) & set("년年äéçì")
    with pytest.raises(ValueError, match=r"Unknown date language\(s\) \['xx'\]; expected some of en, de"):
        load_task("date", 300, languages=["xx"])
    with pytest.raises(ValueError, match="Task 'addition' takes no options; got languages"):
        load_task("addition", 300, languages=["en"])


@pytest.fixture(scope="module")
def date_task():
    return load_task("date", num_examples=4000, seed=3)


def test_date_targets_are_iso_dates_over_a_wide_range(date_task):
    years = []
    for split in date_task.values():
        for target in split["target"]:
            years.append(datetime.date.fromisoformat(target).year)
    assert min(years) < 1750 and max(years) > 2050


def test_tasks_are_deterministic_per_seed_and_differ_across_seeds():
    first, again, other = (load_task("date", 300, seed=s) for s in (7, 7, 8))
    assert first["train"]["source"] == again["train"]["source"]
    assert first["test"]["target"] == again["test"]["target"]
    assert first["train"]["source"] != other["train"]["source"]


def test_the_same_seed_gives_the_same_dates_in_another_process():
    """Nothing in the sampler depends on hash order (sets of names, dict of forms): another process, with another hash
    seed, draws the same data (for the same Babel release, whose CLDR data the forms come from)."""
    script = ("import json; from hf_attn_seq2seq.data.tasks import load_task; "
              "print(json.dumps({s: d.to_dict() for s, d in load_task('date', 400, seed=7).items()}))")
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=dict(os.environ, PYTHONHASHSEED=hash_seed))
                 for hash_seed in ("1", "2")]  # side by side: each is mostly start-up
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        outputs.append(json.loads(stdout))
    here = {split: dataset.to_dict() for split, dataset in load_task("date", 400, seed=7).items()}
    assert outputs[0] == outputs[1] == here


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
