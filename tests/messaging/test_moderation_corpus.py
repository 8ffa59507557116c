"""Order-chat moderation against the labelled corpus (issue 13, items 6 and 7).

``moderation_corpus.jsonl`` holds one labelled chat line per row, written from how buyers,
sellers and recipients in Argentina, Mexico and Brazil really write, independently of the
engine's detectors (see ``docs/messaging/moderation-corpus.md``).

* The shape tests need no engine: they check the file itself (fields, counts, languages,
  known reasons, unique texts, valid check digits where a line says so).
* ``test_moderation_quality_on_the_corpus`` runs ``messaging.moderation.moderate`` on every
  line and computes recall on bypass lines (per reason and overall) and the false-positive rate
  on benign lines. It prints the confusion table (``pytest -s`` or ``-rP`` shows it on success)
  and fails under recall 0.95 (overall, and per reason with >= 20 lines) or over FP 0.02.
  Goals are recall >= 0.97 and FP <= 0.01; the table says whether each is met.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.messaging import corpus_tools

CORPUS = Path(__file__).with_name("moderation_corpus.jsonl")
#: the second, held-out corpus: written before its author read the detectors, lexicon or
#: normalisation, after the main corpus had guided the engine's fixes. Its FIRST measurement,
#: before any fix made for it (engine at bbaa8ad): recall 0.953 (181/190), FP 0.006 (1/167);
#: see docs/messaging/moderation-corpus.md. The gate below holds it to the same thresholds.
HELDOUT = Path(__file__).with_name("moderation_heldout.jsonl")
HELDOUT_MIN_LINES = 300

REASONS = (
    "CONTACT_PHONE",
    "CONTACT_EMAIL",
    "CONTACT_URL",
    "CONTACT_HANDLE",
    "PAYMENT_BYPASS",
    "HARASSMENT",
    "SPAM",
)
#: the verdict each reason leads to (informational in the table; the gate is "not allow")
EXPECTED_ACTION = {
    "CONTACT_PHONE": "redact",
    "CONTACT_EMAIL": "redact",
    "CONTACT_URL": "redact",
    "CONTACT_HANDLE": "redact",
    "PAYMENT_BYPASS": "block",
    "HARASSMENT": "block",
    "SPAM": "block",
}
LANGS = ("es", "pt", "en", "mixed")
COUNTRIES = ("AR", "MX", "BR")
LABELS = ("bypass", "benign")
KEYS = {"text", "lang", "country", "label", "reasons", "family", "note"}

MIN_LINES = 600
RECALL_FLOOR, RECALL_GOAL = 0.95, 0.97
FP_CEILING, FP_GOAL = 0.02, 0.01
PER_REASON_MIN_LINES = 20


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(raw)
        row["line"] = number
        rows.append(row)
    return rows


# --- shape (no engine) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return load_corpus()


@pytest.mark.parametrize("path", [CORPUS, HELDOUT], ids=["corpus", "heldout"])
def test_corpus_lines_are_json_objects_with_the_documented_fields(path: Path) -> None:
    problems = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc})")
            continue
        if not isinstance(row, dict) or set(row) != KEYS:
            problems.append(f"line {number}: keys {sorted(row) if isinstance(row, dict) else row}")
            continue
        if not isinstance(row["text"], str) or not row["text"].strip():
            problems.append(f"line {number}: empty text")
        if row["lang"] not in LANGS or row["country"] not in COUNTRIES:
            problems.append(f"line {number}: lang/country {row['lang']}/{row['country']}")
        if row["label"] not in LABELS:
            problems.append(f"line {number}: label {row['label']!r}")
        if not re.fullmatch(r"[a-z0-9_]+", str(row["family"])):
            problems.append(f"line {number}: family {row['family']!r}")
        if not isinstance(row["note"], str) or not row["note"].strip():
            problems.append(f"line {number}: a line says why it has its label (note)")
        reasons = row["reasons"]
        if not isinstance(reasons, list) or len(set(reasons)) != len(reasons):
            problems.append(f"line {number}: reasons {reasons!r}")
        elif row["label"] == "bypass" and not reasons:
            problems.append(f"line {number}: a bypass line names its expected reason")
        elif row["label"] == "benign" and reasons:
            problems.append(f"line {number}: a benign line has no reasons")
        elif unknown := set(reasons) - set(REASONS):
            problems.append(f"line {number}: unknown reasons {sorted(unknown)}")
        # readable characters stay literal; only invisible format characters are escaped
        for escaped in re.findall(r"\\u([0-9a-fA-F]{4})", raw):
            if unicodedata.category(chr(int(escaped, 16))) != "Cf":
                problems.append(f"line {number}: \\u{escaped} should be written as itself")
    assert not problems, "\n".join(problems)


def test_corpus_size_languages_and_labels_are_balanced(corpus: list[dict[str, Any]]) -> None:
    total = len(corpus)
    assert total >= MIN_LINES, f"{total} lines, the corpus needs at least {MIN_LINES}"
    langs = Counter("en" if row["lang"] == "mixed" else row["lang"] for row in corpus)
    for lang in ("es", "pt", "en"):  # about a third each (en counts en-or-mixed)
        assert 0.25 <= langs[lang] / total <= 0.42, f"{lang}: {langs[lang]} of {total}"
    labels = Counter(row["label"] for row in corpus)
    assert 0.40 <= labels["bypass"] / total <= 0.60, labels
    per_lang_label = Counter((row["lang"], row["label"]) for row in corpus)
    for lang in ("es", "pt"):
        for label in LABELS:
            assert per_lang_label[lang, label] >= 80, (lang, label, per_lang_label)
    countries = Counter(row["country"] for row in corpus)
    assert all(countries[c] >= 100 for c in COUNTRIES), countries


def test_corpus_texts_are_unique(corpus: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    duplicates = []
    for row in corpus:
        if row["text"] in seen:
            duplicates.append(f"lines {seen[row['text']]} and {row['line']}: {row['text']!r}")
        seen.setdefault(row["text"], row["line"])
    assert not duplicates, "\n".join(duplicates)


def test_every_reason_has_enough_bypass_lines_to_be_gated(corpus: list[dict[str, Any]]) -> None:
    main = Counter(row["reasons"][0] for row in corpus if row["label"] == "bypass")
    thin = {reason: main[reason] for reason in REASONS if main[reason] < PER_REASON_MIN_LINES}
    assert not thin, f"reasons with fewer than {PER_REASON_MIN_LINES} lines: {thin}"
    for lang in ("es", "pt"):
        langs = Counter(
            row["reasons"][0] for row in corpus if row["label"] == "bypass" and row["lang"] == lang
        )
        assert set(langs) == set(REASONS), (lang, langs)


def _plain(text: str) -> str:
    """NFKC (full-width, math and circled digits to ASCII) without invisible format chars."""
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", text)


def _digit_windows(text: str, size: int) -> Iterable[str]:
    digits = re.sub(r"\D", "", _plain(text))
    return (digits[i : i + size] for i in range(len(digits) - size + 1))


_CHECKED: dict[str, Callable[[str], bool]] = {
    "valid CBU": lambda t: any(corpus_tools.cbu_ok(w) for w in _digit_windows(t, 22)),
    "valid CVU": lambda t: any(corpus_tools.cbu_ok(w) for w in _digit_windows(t, 22)),
    "valid CLABE": lambda t: any(corpus_tools.clabe_ok(w) for w in _digit_windows(t, 18)),
    "valid CPF": lambda t: any(corpus_tools.cpf_ok(w) for w in _digit_windows(t, 11)),
    "valid CNPJ": lambda t: any(corpus_tools.cnpj_ok(w) for w in _digit_windows(t, 14)),
    "valid IBAN": lambda t: any(
        corpus_tools.iban_ok(m)
        for m in re.findall(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", re.sub(r"\s", "", _plain(t)))
    ),
    "Luhn-valid": lambda t: any(
        corpus_tools.luhn_ok(w) for size in (15, 16) for w in _digit_windows(t, size)
    ),
}


@pytest.mark.parametrize(
    ("path", "minimum"), [(CORPUS, 25), (HELDOUT, 10)], ids=["corpus", "heldout"]
)
def test_account_numbers_said_to_be_valid_pass_their_check_digits(path: Path, minimum: int) -> None:
    """A detector that validates check digits must still catch these: they really are valid."""
    checked, problems = 0, []
    for row in load_corpus(path):
        for marker, ok in _CHECKED.items():
            if marker in row["note"]:
                checked += 1
                if not ok(row["text"]):
                    problems.append(f"line {row['line']} ({marker}): {row['text']!r}")
    assert checked >= minimum, checked
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("path", "minimum"), [(CORPUS, 5), (HELDOUT, 3)], ids=["corpus", "heldout"]
)
def test_crypto_addresses_have_valid_checksums(path: Path, minimum: int) -> None:
    found, problems = 0, []
    for row in load_corpus(path):
        if row["family"] != "crypto":
            continue
        for token in re.findall(
            r"\b(?:bc1[0-9a-z]{20,}|[13T][1-9A-HJ-NP-Za-km-z]{25,34})\b", row["text"]
        ):
            found += 1
            ok = (
                corpus_tools.bech32_ok(token)
                if token.startswith("bc1")
                else (corpus_tools.base58check_ok(token))
            )
            if not ok:
                problems.append(f"line {row['line']}: {token}")
    assert found >= minimum, found
    assert not problems, problems


def test_benign_lines_hold_the_numbers_chat_really_has(corpus: list[dict[str, Any]]) -> None:
    """Benign lines are not number-free: prices, dates, order ids, addresses, last-4s."""
    benign = [row for row in corpus if row["label"] == "benign"]
    families = Counter(row["family"] for row in benign)
    for family in (
        "price", "date_time", "order_number", "address", "postal_code", "quantity",
        "card_last4", "tracking", "opening_hours", "emoji_thanks", "hard_numbers", "scunthorpe",
    ):  # fmt: skip
        assert families[family] >= 3, (family, families)
    with_digits = sum(1 for row in benign if re.search(r"\d", row["text"]))
    assert with_digits / len(benign) >= 0.5, with_digits


# --- scoring --------------------------------------------------------------------------------


@dataclass
class Outcome:
    row: dict[str, Any]
    action: str
    reported: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return self.action != "allow"

    @property
    def caught(self) -> bool:
        return self.flagged and self.row["reasons"][0] in self.reported


@dataclass
class Score:
    outcomes: list[Outcome]
    failures: list[str] = field(default_factory=list)
    table: str = ""


def _value(item: Any) -> str:
    return str(getattr(item, "value", item))


def run_engine(moderate: Callable[..., Any], rows: list[dict[str, Any]]) -> list[Outcome]:
    outcomes = []
    for row in rows:
        verdict = moderate(row["text"], country_code=row["country"])
        action = getattr(verdict, "action", None) or verdict.verdict
        reported = tuple(_value(reason) for reason in verdict.reasons)
        outcomes.append(Outcome(row, _value(action), reported))
    return outcomes


def _rate(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def _short(text: str, width: int = 90) -> str:
    shown = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def score(outcomes: list[Outcome]) -> Score:
    result = Score(outcomes)
    bypass = [o for o in outcomes if o.row["label"] == "bypass"]
    benign = [o for o in outcomes if o.row["label"] == "benign"]
    lines: list[str] = []

    # per expected (main) reason: recall and what was reported instead
    columns = [*REASONS, "allow"]
    header = f"{'expected / reported':<22}" + "".join(f"{c[:9]:>10}" for c in columns)
    lines += ["Confusion (bypass lines by expected main reason)", header]
    recall_rows = []
    for reason in REASONS:
        mine = [o for o in bypass if o.row["reasons"][0] == reason]
        counts = Counter(r for o in mine for r in o.reported if o.flagged)
        counts["allow"] = sum(1 for o in mine if not o.flagged)
        lines.append(f"{reason:<22}" + "".join(f"{counts[c]:>10}" for c in columns))
        caught = sum(1 for o in mine if o.caught)
        recall_rows.append((reason, caught, len(mine)))
    lines.append("")
    lines.append(f"{'reason':<22}{'lines':>7}{'caught':>8}{'recall':>8}  goal>={RECALL_GOAL}")
    for reason, caught, total in recall_rows:
        recall = _rate(caught, total)
        mark = "ok" if recall >= RECALL_GOAL else "BELOW GOAL"
        lines.append(f"{reason:<22}{total:>7}{caught:>8}{recall:>8.3f}  {mark}")
        if total >= PER_REASON_MIN_LINES and recall < RECALL_FLOOR:
            result.failures.append(f"recall {reason} {recall:.3f} < {RECALL_FLOOR}")
    caught_all = sum(1 for o in bypass if o.caught)
    overall = _rate(caught_all, len(bypass))
    lines.append(f"{'OVERALL':<22}{len(bypass):>7}{caught_all:>8}{overall:>8.3f}")
    if overall < RECALL_FLOOR:
        result.failures.append(f"overall recall {overall:.3f} < {RECALL_FLOOR}")

    # secondary reasons and the verdict each reason implies: informational
    secondary = [(o, r) for o in bypass for r in o.row["reasons"][1:]]
    if secondary:
        also = sum(1 for o, r in secondary if r in o.reported)
        lines.append(f"secondary reasons also reported: {also}/{len(secondary)}")
    wrong_action = [
        o for o in bypass if o.caught and o.action != EXPECTED_ACTION[o.row["reasons"][0]]
    ]
    lines.append(f"caught with another verdict than the reason's policy: {len(wrong_action)}")

    # per language
    lines += ["", f"{'lang':<8}{'bypass':>8}{'recall':>8}{'benign':>8}{'FP':>6}{'FP rate':>9}"]
    for lang in LANGS:
        b = [o for o in bypass if o.row["lang"] == lang]
        n = [o for o in benign if o.row["lang"] == lang]
        fp = sum(1 for o in n if o.flagged)
        recall = _rate(sum(1 for o in b if o.caught), len(b))
        fp_rate_lang = fp / len(n) if n else 0.0
        lines.append(f"{lang:<8}{len(b):>8}{recall:>8.3f}{len(n):>8}{fp:>6}{fp_rate_lang:>9.3f}")
    lines += ["", "recall per reason and language (caught/lines)"]
    lines.append(f"{'reason':<22}" + "".join(f"{lang:>10}" for lang in LANGS))
    for reason in REASONS:
        cells = []
        for lang in LANGS:
            mine = [o for o in bypass if o.row["reasons"][0] == reason and o.row["lang"] == lang]
            cells.append(f"{sum(1 for o in mine if o.caught)}/{len(mine)}" if mine else "-")
        lines.append(f"{reason:<22}" + "".join(f"{cell:>10}" for cell in cells))

    # false positives
    false = [o for o in benign if o.flagged]
    fp_rate = len(false) / len(benign) if benign else 0.0
    mark = "ok" if fp_rate <= FP_GOAL else "ABOVE GOAL"
    lines.append("")
    lines.append(f"benign lines {len(benign)}, flagged {len(false)}, FP rate {fp_rate:.3f}  {mark}")
    by_family = Counter(o.row["family"] for o in false)
    if by_family:
        lines.append(f"false positives by family: {dict(by_family.most_common())}")
    if fp_rate > FP_CEILING:
        result.failures.append(f"false-positive rate {fp_rate:.3f} > {FP_CEILING}")

    missed = [o for o in bypass if not o.caught]
    if missed:
        lines += ["", f"MISSED bypass lines ({len(missed)}):"]
        by_reason: defaultdict[str, list[Outcome]] = defaultdict(list)
        for o in missed:
            by_reason[o.row["reasons"][0]].append(o)
        for reason, items in by_reason.items():
            for o in items:
                got = f"{o.action} {list(o.reported)}"
                lines.append(
                    f"  [{reason}] line {o.row['line']} ({o.row['family']}) got {got}: "
                    f"{_short(o.row['text'])}"
                )
    if false:
        lines += ["", f"FALSE POSITIVES on benign lines ({len(false)}):"]
        for o in false:
            lines.append(
                f"  line {o.row['line']} ({o.row['family']}) got {o.action} "
                f"{list(o.reported)}: {_short(o.row['text'])}"
            )
    result.table = "\n".join(lines)
    return result


def _oracle(rows: list[dict[str, Any]], *, allow_everything: bool = False) -> Callable[..., Any]:
    by_text = {row["text"]: row for row in rows}

    @dataclass
    class FakeVerdict:
        action: str
        reasons: tuple[str, ...]

    def moderate(text: str, *, country_code: str) -> FakeVerdict:
        row = by_text[text]
        assert country_code == row["country"]
        if allow_everything or row["label"] == "benign":
            return FakeVerdict("allow", ())
        return FakeVerdict(EXPECTED_ACTION[row["reasons"][0]], tuple(row["reasons"]))

    return moderate


def test_the_scoring_passes_a_perfect_engine_and_fails_a_blind_one(
    corpus: list[dict[str, Any]],
) -> None:
    """The gate itself, checked without the engine: an oracle passes, allow-all fails."""
    perfect = score(run_engine(_oracle(corpus), corpus))
    assert perfect.failures == [], perfect.table
    assert "OVERALL" in perfect.table and "MISSED" not in perfect.table
    blind = score(run_engine(_oracle(corpus, allow_everything=True), corpus))
    assert any(f.startswith("overall recall 0.000") for f in blind.failures), blind.failures
    assert "MISSED bypass lines" in blind.table


# --- quality (needs messaging.moderation) ---------------------------------------------------


def test_moderation_quality_on_the_corpus(corpus: list[dict[str, Any]]) -> None:
    from messaging.moderation import moderate

    result = score(run_engine(moderate, corpus))
    print("\n" + result.table)
    assert not result.failures, "; ".join(result.failures) + "\n\n" + result.table


# --- the held-out corpus ----------------------------------------------------------------------


def test_heldout_corpus_is_balanced_unique_and_apart_from_the_main_corpus() -> None:
    rows = load_corpus(HELDOUT)
    total = len(rows)
    assert total >= HELDOUT_MIN_LINES, (
        f"{total} lines, the held-out corpus needs {HELDOUT_MIN_LINES}"
    )
    langs = Counter("en" if row["lang"] == "mixed" else row["lang"] for row in rows)
    for lang in ("es", "pt", "en"):  # about a third each (en counts en-or-mixed)
        assert 0.25 <= langs[lang] / total <= 0.42, f"{lang}: {langs[lang]} of {total}"
    labels = Counter(row["label"] for row in rows)
    assert 0.40 <= labels["bypass"] / total <= 0.60, labels
    main = Counter(row["reasons"][0] for row in rows if row["label"] == "bypass")
    assert set(main) == set(REASONS), main
    texts = Counter(row["text"] for row in rows)
    assert not [t for t, n in texts.items() if n > 1], "duplicate texts"
    in_main = {row["text"] for row in load_corpus(CORPUS)} & set(texts)
    assert not in_main, f"lines copied from the main corpus: {sorted(in_main)}"


def test_moderation_quality_on_the_heldout_corpus() -> None:
    """Same thresholds as the main gate (recall >= 0.95 overall and per reason with >= 20
    lines, FP <= 0.02); the table is printed. Pre-fix figure: see ``HELDOUT`` above."""
    from messaging.moderation import moderate

    result = score(run_engine(moderate, load_corpus(HELDOUT)))
    print("\nHELD-OUT corpus\n" + result.table)
    assert not result.failures, "; ".join(result.failures) + "\n\n" + result.table
