"""Dates as people write them, in many languages: Unicode CLDR's patterns through Babel, the informal forms CLDR does
not list, and the book's formats.

Every form renders a `datetime.date` as a string; the date task's target is always ISO 8601 `YYYY-MM-DD`. A form
belongs to a *family* (how it is written: `cldr_long`, `ordinal`, `rfc2822`, ...) and a *language* (`en`, `de`, ...,
or `numeric` for forms without words). The sampler draws a family, then a language the family is written in, then
one of its forms, so every family and language is well represented whatever the number of locales behind it.

How ambiguous writings are read (the model cannot know who wrote a date, so one reading is chosen per form):

- **Numeric day and month with `/` or `-` and the year last: month first** when both readings are dates (`6/3/73`
  is June 3, 1973, the book's and en-US's reading). Day-first locales (en-GB, fr, es, it, pt, nl...) are drawn in
  these forms only with a day above 12 or equal to the month, where the day-first reading is the only one or the same.
- **With dots: day first** (`4.7.1776` is July 4), as every locale here writes dotted dates.
- **Year first** (four digits): year, month, day (ISO 8601, ja, zh, ko). A two-digit year is written only last
  (ko's `yy. M. d.` is drawn with the full year), so `21. 3. 3.` never competes with `3. 3. 21`.
- **Two-digit years** (`6/3/73`, `Mar 3 '21`) are read in the window 1950-2049 and only dates in it are written so.
"""

import datetime
import email.utils
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from babel import Locale
from babel.dates import get_date_format, match_skeleton, parse_pattern


FIRST_YEAR, LAST_YEAR = 1700, 2099
# Two-digit years read as 1950-2049 (the usual pivot); only dates in that window are written with two digits.
TWO_DIGIT_PIVOT = 50
NUMERIC = "numeric"  # the language of forms without words
# The locales behind each language (several territories where they write dates differently).
LOCALES = {
    "en": ("en_US", "en_GB", "en_AU", "en_CA", "en_IN"),
    "de": ("de_DE", "de_AT", "de_CH"),
    "fr": ("fr_FR", "fr_CA", "fr_BE"),
    "es": ("es_ES", "es_MX"),
    "it": ("it_IT",),
    "pt": ("pt_BR", "pt_PT"),
    "nl": ("nl_NL", "nl_BE"),
    "ko": ("ko_KR",),
    "ja": ("ja_JP",),
    "zh": ("zh_Hans_CN", "zh_Hant_TW"),
}
LANGUAGES = tuple(LOCALES)
LATIN_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl")
CLDR_LENGTHS = ("full", "long", "medium", "short")
# Skeletons (fields wanted, the locale chooses order and punctuation) beyond the four lengths.
CLDR_SKELETONS = ("yMd", "yMEd", "yMMMd", "yMMMEd", "yMMMMEEEEd")
# Letter case as people type it: as CLDR writes it, all lower, all upper, or month and weekday names capitalized.
CASE_STYLES = ("as_written", "lower", "upper", "capitalized")


def two_digit_year_ok(date: datetime.date) -> bool:
    return 1900 + TWO_DIGIT_PIVOT <= date.year < 2000 + TWO_DIGIT_PIVOT


def _any_date(date: datetime.date) -> bool:
    return True


def _day_first_unambiguous(date: datetime.date) -> bool:
    """Whether a day-first numeric date (`13/03/2021`) has no month-first reading, or the same one."""
    return date.day > 12 or date.day == date.month


@dataclass(frozen=True)
class DateForm:
    """One way of writing a date: `render(date, rng)` gives the text; only dates `accepts` approves are written so."""

    family: str
    language: str
    name: str  # unique within the family and language (the locale and pattern, or the book's family)
    render: Callable[[datetime.date, random.Random], str]
    accepts: Callable[[datetime.date], bool] = _any_date
    cased: bool = True  # whether letter case is varied (names in a cased script)
    # How a numeric day and month are ordered: "month_first", "day_first" (`/` or `-`, year last) or "" (not both
    # numeric, dotted, or year first). The sampler draws the two readings equally often within a family and language.
    reading: str = ""


# --------------------------------------------------------------------------------------------------------------------
# CLDR patterns
# --------------------------------------------------------------------------------------------------------------------

_PATTERN_FIELD = re.compile(r"'[^']*'|([yMLdEc])\1*")


def _numeric_layout(pattern: str) -> tuple[str, str, bool]:
    """(order of the y/M/d fields, the separator after the first of them, whether the month is numeric)."""
    fields, separator = [], ""
    for match in _PATTERN_FIELD.finditer(pattern):
        if match.group(1) and match.group(1) in "yMLd":
            if not fields:
                separator = pattern[match.end():match.end() + 1]
            fields.append((match.group(1).replace("L", "M"), len(match.group(0))))
    order = "".join(letter for letter, _ in fields)
    month_numeric = any(letter == "M" and width <= 2 for letter, width in fields)
    return order, separator, month_numeric


def _cldr_pattern(pattern: str) -> tuple[str, Callable[[datetime.date], bool], str]:
    """The pattern as the generator writes it (a leading two-digit year widened), the dates it may write and its
    reading of a numeric day and month."""
    order, separator, month_numeric = _numeric_layout(pattern)
    if order.startswith("y") and re.match(r"^yy(?!y)", pattern):
        pattern = "y" + pattern[2:]  # ko `yy. M. d.`: a two-digit year first would compete with `d. M. yy`
    two_digit_year = re.search(r"(?<!y)yy(?!y)", pattern) is not None
    reading = ""
    if month_numeric and separator in ("/", "-") and not order.startswith("y"):
        reading = "day_first" if order.index("d") < order.index("M") else "month_first"

    def accepts(date: datetime.date) -> bool:
        return (not two_digit_year or two_digit_year_ok(date)) and (
            reading != "day_first" or _day_first_unambiguous(date))

    return pattern, accepts, reading


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def _cldr_form(family: str, language: str, locale_name: str, pattern: str) -> DateForm:
    pattern, accepts, reading = _cldr_pattern(pattern)
    compiled, locale = parse_pattern(pattern), _locale(locale_name)
    return DateForm(family, language, f"{locale_name} {pattern}", lambda date, rng: compiled.apply(date, locale),
                    accepts, cased=language in LATIN_LANGUAGES, reading=reading)


def _cldr_forms(language: str) -> list[DateForm]:
    forms = []
    for locale_name in LOCALES[language]:
        locale = _locale(locale_name)
        for length in CLDR_LENGTHS:
            forms.append(_cldr_form(f"cldr_{length}", language, locale_name,
                                    get_date_format(length, locale=locale).pattern))
        for skeleton in CLDR_SKELETONS:
            pattern = locale.datetime_skeletons[match_skeleton(skeleton, locale.datetime_skeletons)].pattern
            forms.append(_cldr_form(f"cldr_{skeleton}", language, locale_name, pattern))
    return forms


# --------------------------------------------------------------------------------------------------------------------
# Informal forms CLDR does not list
# --------------------------------------------------------------------------------------------------------------------


def _month_name(locale_name: str, date: datetime.date, width: str = "wide") -> str:
    return _locale(locale_name).months["format"][width][date.month]


def _short_month(locale_name: str, date: datetime.date) -> str:
    """The abbreviated month as typed informally: without CLDR's trailing dot (`mars`, `Sept` -> `Sep`)."""
    name = _month_name(locale_name, date, "abbreviated").rstrip(".")
    return name[:3] if locale_name.startswith("en") else name


def _weekday_name(locale_name: str, date: datetime.date, width: str = "wide") -> str:
    return _locale(locale_name).days["format"][width][date.weekday()]


def english_ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _ordinal_forms() -> list[DateForm]:
    english = {
        "day_of_month_year": lambda d, rng: f"{english_ordinal(d.day)} of {_month_name('en_US', d)} {d.year}",
        "month_day_year": lambda d, rng: f"{_month_name('en_US', d)} {english_ordinal(d.day)}, {d.year}",
        "day_month_year": lambda d, rng: f"{english_ordinal(d.day)} {_month_name('en_US', d)} {d.year}",
        "mon_day_year": lambda d, rng: f"{_short_month('en_US', d)} {english_ordinal(d.day)} {d.year}",
        "weekday_day_of_month_year": lambda d, rng: (
            f"{_weekday_name('en_US', d)} the {english_ordinal(d.day)} of {_month_name('en_US', d)} {d.year}"),
    }
    # French writes the first of the month as an ordinal (`1er`), often after `le`.
    french = {"le_day_month_year": lambda d, rng: (
        f"le {'1er' if d.day == 1 else d.day} {_month_name('fr_FR', d)} {d.year}")}
    return ([DateForm("ordinal", "en", name, render) for name, render in english.items()]
            + [DateForm("ordinal", "fr", name, render) for name, render in french.items()])


def _apostrophe_year_forms() -> list[DateForm]:
    forms = [DateForm("apostrophe_year", "en", "mon_day_yy",
                      lambda d, rng: f"{_short_month('en_US', d)} {d.day} '{d.year % 100:02d}", two_digit_year_ok)]
    for language in LATIN_LANGUAGES:
        locale_name = LOCALES[language][0]
        day = "{d.day}." if language == "de" else "{d.day}"

        def render(d, rng, locale_name=locale_name, day=day):
            return f"{day.format(d=d)} {_short_month(locale_name, d)} '{d.year % 100:02d}"

        forms.append(DateForm("apostrophe_year", language, "day_mon_yy", render, two_digit_year_ok))
    return forms


def _dashed_month_forms() -> list[DateForm]:
    forms = []
    for language in LATIN_LANGUAGES:
        locale_name = LOCALES[language][0]
        forms.append(DateForm("dashed_month", language, "d-mon-yyyy",
                              lambda d, rng, loc=locale_name: f"{d.day}-{_short_month(loc, d)}-{d.year}"))
        # Oracle's and many ledgers' DD-MON-YY, upper case.
        forms.append(DateForm("dashed_month", language, "dd-MON-yy",
                              lambda d, rng, loc=locale_name: f"{d.day:02d}-{_short_month(loc, d).upper()}-"
                                                              f"{d.year % 100:02d}",
                              two_digit_year_ok, cased=False))
    return forms


# The offsets from UTC in use: whole hours from -12 to +14 and the half and three-quarter hours some zones keep.
UTC_OFFSETS_IN_MINUTES = tuple(60 * hours for hours in range(-12, 15)) + (-570, -210, 210, 270, 330, 345, 390, 525,
                                                                             570, 630, 765)


def _random_time(date: datetime.date, rng: random.Random, with_zone: bool) -> datetime.datetime:
    zone = None
    if with_zone:
        zone = datetime.timezone(datetime.timedelta(minutes=rng.choice(UTC_OFFSETS_IN_MINUTES)))
    return datetime.datetime(date.year, date.month, date.day, rng.randrange(24), rng.randrange(60),
                             rng.randrange(60), tzinfo=zone)


def _rfc2822(date: datetime.date, rng: random.Random) -> str:
    """An e-mail header's date (RFC 2822), with its time and zone or cut to the date."""
    written = email.utils.format_datetime(_random_time(date, rng, with_zone=True))
    return written if rng.random() < 0.5 else written[:16]  # `Wed, 03 Mar 2021`


def _iso_variant(date: datetime.date, rng: random.Random) -> str:
    variant = rng.randrange(5)
    if variant == 0:
        return f"{date.year}.{date.month:02d}.{date.day:02d}"
    if variant == 1:
        return f"{date.year}-{date.month}-{date.day}"
    if variant == 2:
        return f"{date.year}/{date.month}/{date.day}"
    moment = _random_time(date, rng, with_zone=rng.random() < 0.5)
    return moment.isoformat(sep="T" if variant == 3 else " ", timespec=rng.choice(("minutes", "seconds")))


def _numeric_forms() -> list[DateForm]:
    return [
        DateForm("compact_digits", NUMERIC, "yyyymmdd", lambda d, rng: f"{d.year}{d.month:02d}{d.day:02d}",
                 cased=False),
        DateForm("iso_variants", NUMERIC, "iso_variants", _iso_variant, cased=False),
        DateForm("rfc2822", "en", "rfc2822", _rfc2822, cased=False),
    ]


# --------------------------------------------------------------------------------------------------------------------
# The book's formats
# --------------------------------------------------------------------------------------------------------------------

def _book_month(date: datetime.date, abbreviated: bool) -> str:
    name = _month_name("en_US", date)
    return name[:3] if abbreviated else name


def _book_weekday(date: datetime.date, abbreviated: bool) -> str:
    name = _weekday_name("en_US", date)
    return name[:3] if abbreviated else name


# The formats of the seed's book, each in English.
BOOK_FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "month_day_year": lambda d: f"{_book_month(d, False)} {d.day}, {d.year}",  # September 27, 1994
    "mon_day_year": lambda d: f"{_book_month(d, True)} {d.day}, {d.year}",  # Sep 27, 1994
    "weekday_month_day_year": lambda d: f"{_book_weekday(d, False)}, {_book_month(d, False)} {d.day}, {d.year}",
    "wkd_mon_day_year": lambda d: f"{_book_weekday(d, True)}, {_book_month(d, True)} {d.day}, {d.year}",
    "day_mon_year": lambda d: f"{d.day} {_book_month(d, True)} {d.year}",  # 27 Sep 1994
    "day_month_year": lambda d: f"{d.day} {_book_month(d, False)} {d.year}",  # 27 September 1994
    "weekday_day_month_year": lambda d: f"{_book_weekday(d, False)} {d.day} {_book_month(d, False)} {d.year}",
    "month_day_year_no_comma": lambda d: f"{_book_month(d, False)} {d.day} {d.year}",  # September 27 1994
    "m/d/yy": lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",  # 9/27/94
    "m/d/yyyy": lambda d: f"{d.month}/{d.day}/{d.year}",  # 9/27/1994
    "mm/dd/yyyy": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",  # 09/27/1994
    "d.m.yyyy": lambda d: f"{d.day}.{d.month}.{d.year}",  # 27.9.1994
    "dd.mm.yyyy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 27.09.1994
    "iso": lambda d: d.isoformat(),  # 1994-09-27
    "yyyy/mm/dd": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",  # 1994/09/27
}


def _book_forms() -> list[DateForm]:
    return [DateForm("book", "en", name, lambda d, rng, write=write: write(d),
                     two_digit_year_ok if name == "m/d/yy" else _any_date) for name, write in BOOK_FORMATS.items()]


# --------------------------------------------------------------------------------------------------------------------
# Variations applied on top of a form: letter case, spacing and commas
# --------------------------------------------------------------------------------------------------------------------

@cache
def _names(language: str) -> frozenset[str]:
    """Every month and weekday name of the language's locales, lower case (what `capitalized` capitalizes)."""
    names = set()
    for locale_name in LOCALES.get(language, ()):
        locale = _locale(locale_name)
        for table in (locale.months, locale.days):
            for context in ("format", "stand-alone"):
                for width in ("wide", "abbreviated"):
                    names.update(name.lower().rstrip(".") for name in table[context][width].values())
    return frozenset(names)


_WORD = re.compile(r"[^\W\d_]+")


def apply_case(text: str, style: str, language: str) -> str:
    if style == "lower":
        return text.lower()
    if style == "upper":
        return text.upper()
    if style == "capitalized":
        names = _names(language)
        return _WORD.sub(lambda m: m.group(0).capitalize() if m.group(0).lower() in names else m.group(0), text)
    return text


def add_spaces_and_commas(text: str, rng: random.Random) -> str:
    """`text` as typed carelessly: a doubled space, a comma after the first word, or no space after a comma."""
    choices = []
    if " " in text:
        choices.append(lambda t: _replace_one(t, " ", "  ", rng))
    if ", " in text:
        choices.append(lambda t: _replace_one(t, ", ", ",", rng))
        choices.append(lambda t: _replace_one(t, ", ", " , ", rng))
    if re.search(r"[年월月](?=\d)", text):  # `2021年 3月 3日`: CJK dates typed with spaces between fields
        choices.append(lambda t: _replace_one_pattern(t, r"[年월月](?=\d)", rng, lambda m: m.group(0) + " "))
    first_word = re.match(r"^([^\W\d_]+\.?|\d+\.?) (?=\S)", text)
    if first_word and "," not in text:
        choices.append(lambda t: t[:first_word.end(1)] + "," + t[first_word.end(1):])
    return rng.choice(choices)(text) if choices else text


def _replace_one(text: str, old: str, new: str, rng: random.Random) -> str:
    return _replace_one_pattern(text, re.escape(old), rng, lambda match: new)


def _replace_one_pattern(text: str, pattern: str, rng: random.Random, replace) -> str:
    match = rng.choice(list(re.finditer(pattern, text)))
    return text[:match.start()] + replace(match) + text[match.end():]


# --------------------------------------------------------------------------------------------------------------------
# The sampler
# --------------------------------------------------------------------------------------------------------------------

SPACING_FAMILY = "extra_spaces_commas"


@cache
def _all_forms() -> tuple[DateForm, ...]:
    forms = [form for language in LANGUAGES for form in _cldr_forms(language)]
    forms += _ordinal_forms() + _apostrophe_year_forms() + _dashed_month_forms() + _numeric_forms() + _book_forms()
    return tuple(forms)


def check_languages(languages: Iterable[str] | None) -> tuple[str, ...]:
    if languages is None:
        return LANGUAGES
    if isinstance(languages, str):
        languages = [languages]
    chosen = tuple(dict.fromkeys(languages))
    unknown = [language for language in chosen if language not in LANGUAGES]
    if unknown or not chosen:
        raise ValueError(f"Unknown date language(s) {unknown or 'none given'}; expected some of "
                         f"{', '.join(LANGUAGES)}.")
    return chosen


def date_forms(languages: Iterable[str] | None = None) -> list[DateForm]:
    """The forms written in `languages` (default: all of `LANGUAGES`), and the numeric ones."""
    wanted = set(check_languages(languages)) | {NUMERIC}
    return [form for form in _all_forms() if form.language in wanted]


def date_families(languages: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    """Each family the sampler draws for `languages`, with the languages it is written in."""
    families: dict[str, dict[str, None]] = {}
    for form in date_forms(languages):
        families.setdefault(form.family, {})[form.language] = None
    families[SPACING_FAMILY] = tuple(dict.fromkeys(language for languages_ in families.values()
                                                   for language in languages_))
    return {family: tuple(languages_) for family, languages_ in families.items()}


def random_date(rng: random.Random) -> datetime.date:
    first = datetime.date(FIRST_YEAR, 1, 1).toordinal()
    last = datetime.date(LAST_YEAR, 12, 31).toordinal()
    return datetime.date.fromordinal(rng.randint(first, last))


@dataclass(frozen=True)
class DateSample:
    source: str
    target: str
    family: str
    language: str
    form: str


class DateSampler:
    """Draws (source, ISO target) pairs: a family uniformly, a language it is written in, one of its forms, a date the
    form may write, then a letter case; the spacing family takes another family's text and types it carelessly."""

    def __init__(self, languages: Iterable[str] | None = None):
        self.languages = check_languages(languages)
        self.forms: dict[str, dict[str, list[DateForm]]] = {}
        for form in date_forms(self.languages):
            self.forms.setdefault(form.family, {}).setdefault(form.language, []).append(form)
        self.families = [*self.forms, SPACING_FAMILY]

    def sample(self, rng: random.Random, family: str | None = None, language: str | None = None) -> DateSample:
        family = family or rng.choice(self.families)
        if family == SPACING_FAMILY:
            for _ in range(1000):  # a text with spaces or commas to vary (not every form has them: `20210303`)
                base_families = [name for name, by_language in self.forms.items()
                                 if language is None or language in by_language]
                base = self.sample(rng, rng.choice(base_families), language)
                varied = add_spaces_and_commas(base.source, rng)
                if varied != base.source:
                    return DateSample(varied, base.target, family, base.language, base.form)
            raise ValueError(f"No {language} form has spaces or commas to vary.")
        by_language = self.forms[family]
        language = language or rng.choice(list(by_language))
        forms = by_language[language]
        readings = sorted({form.reading for form in forms})
        if len(readings) > 1:  # en's `E, M/d/y` (2 locales) as often as `E, dd/MM/y` (3 locales)
            reading = rng.choice(readings)
            forms = [form for form in forms if form.reading == reading]
        form = rng.choice(forms)
        date = random_date(rng)
        while not form.accepts(date):
            date = random_date(rng)
        text = form.render(date, rng)
        if form.cased:
            text = apply_case(text, rng.choice(CASE_STYLES), language)
        return DateSample(text, date.isoformat(), family, language, form.name)

    def alphabet(self) -> str:
        """Every character the sampler can write (all months, weekdays and case styles of every form)."""
        characters = set("0123456789")
        rng = random.Random(0)
        dates = [datetime.date(2000, month, day) for month in range(1, 13) for day in (1, 3, 5, 7, 9, 11, 28)]
        dates += [datetime.date(1973, 6, 13)]  # for the two-digit-year forms
        for family in self.forms.values():
            for forms in family.values():
                for form in forms:
                    for date in dates:
                        if form.accepts(date):
                            text = form.render(date, rng)
                            for style in CASE_STYLES if form.cased else ("as_written",):
                                characters.update(apply_case(text, style, form.language))
        characters.update(",")  # the spacing family's commas
        return "".join(sorted(characters))


__all__ = ["BOOK_FORMATS", "CASE_STYLES", "DateForm", "DateSample", "DateSampler", "FIRST_YEAR", "LANGUAGES",
           "LAST_YEAR", "LOCALES", "NUMERIC", "TWO_DIGIT_PIVOT", "date_families", "date_forms", "two_digit_year_ok"]
