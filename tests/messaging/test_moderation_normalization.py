# ruff: noqa: RUF001 - look-alike characters are the point of these cases
"""Every obfuscation family of the normalisation is needed: each case here is caught with all
the steps and missed when exactly that step is switched off (one case per family and language).
"""

from __future__ import annotations

import pytest

from messaging.moderation import Reason
from messaging.moderation.engine import analyze
from messaging.moderation.normalize import ALL_STEPS

# (step, lang, country, text, reason caught only because of the step)
CASES = [
    ("case", "es", "AR", "Sos un IDIOTA", Reason.HARASSMENT),
    ("case", "pt", "BR", "VAI SE FODER", Reason.HARASSMENT),
    ("case", "en", "MX", "FUCK YOU", Reason.HARASSMENT),
    ("accents", "es", "AR", "sos un estúpido", Reason.HARASSMENT),
    ("accents", "pt", "BR", "seu desgraçado", Reason.HARASSMENT),
    ("accents", "en", "MX", "you ïdïot", Reason.HARASSMENT),
    ("compat", "es", "AR", "mi cel es １１ ４５６７ ８９０１", Reason.CONTACT_PHONE),
    ("compat", "pt", "BR", "me chama no zap ⑪ ⑨⑧⑦⑥⑤-④③②①", Reason.CONTACT_PHONE),
    ("compat", "en", "MX", "text me 𝟓𝟓 𝟏𝟐𝟑𝟒 𝟓𝟔𝟕𝟖", Reason.CONTACT_PHONE),
    ("compat", "es", "MX", "mi whats ⁵⁵ ¹²³⁴ ⁵⁶⁷⁸", Reason.CONTACT_PHONE),
    ("confusables", "es", "AR", "sos un \u0456d\u0456\u043et\u0430", Reason.HARASSMENT),
    ("confusables", "pt", "BR", "v\u0430i s\u0435 f\u043ed\u0435r", Reason.HARASSMENT),
    ("confusables", "en", "MX", "fu\u0441k y\u043eu", Reason.HARASSMENT),
    ("invisible", "es", "AR", "sos un pelo\u200btudo", Reason.HARASSMENT),
    ("invisible", "pt", "BR", "seu arrom\u200dbado", Reason.HARASSMENT),
    ("invisible", "en", "MX", "you id\u2060iot", Reason.HARASSMENT),
    (
        "number_words",
        "es",
        "AR",
        "llamame al once cuarenta y cinco sesenta y siete ochenta y nueve cero uno",
        Reason.CONTACT_PHONE,
    ),
    (
        "number_words",
        "pt",
        "BR",
        "me liga: onze nove oito sete seis cinco quatro três dois um",
        Reason.CONTACT_PHONE,
    ),
    (
        "number_words",
        "en",
        "MX",
        "call me double five one two three four five six seven eight",
        Reason.CONTACT_PHONE,
    ),
    (
        "number_words",
        "mixed",
        "BR",
        "anota: onze noventa e oito siete seis cinco quatro three two one",
        Reason.CONTACT_PHONE,
    ),
    (
        "email_words",
        "es",
        "AR",
        "escribime a juanperez arroba gmail punto com",
        Reason.CONTACT_EMAIL,
    ),
    (
        "email_words",
        "pt",
        "BR",
        "meu email: maria.silva (at) hotmail ponto com",
        Reason.CONTACT_EMAIL,
    ),
    ("email_words", "en", "MX", "john dot smith at yahoo dot com", Reason.CONTACT_EMAIL),
    ("email_words", "es", "AR", "entrá a wa punto me barra algo", Reason.CONTACT_URL),
    ("digit_joining", "es", "AR", "mi número 11.4567.8901", Reason.CONTACT_PHONE),
    ("digit_joining", "pt", "BR", "zap 11 9 8765 4321", Reason.CONTACT_PHONE),
    ("digit_joining", "en", "MX", "text me 55/1234/5678", Reason.CONTACT_PHONE),
    ("digit_joining", "es", "MX", "mi cel 55🔥1234🔥5678", Reason.CONTACT_PHONE),
    ("leet", "es", "AR", "pasá por el wh4ts 4567 8901", Reason.CONTACT_PHONE),
    ("leet", "pt", "BR", "to no z4p 9876 5432", Reason.CONTACT_PHONE),
    ("leet", "en", "MX", "my 1nsta is juan_perez", Reason.CONTACT_HANDLE),
    ("leet", "es", "AR", "sos un 1d10t4", Reason.HARASSMENT),
]


def _id(case: tuple[str, str, str, str, str]) -> str:
    return f"{case[0]}-{case[1]}-{case[3][:24]}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_normalisation_step_catches_case_only_with_it(case: tuple[str, str, str, str, str]) -> None:
    step, _lang, country, text, reason = case
    assert step in ALL_STEPS

    with_all = analyze(text, country_code=country)
    without = analyze(text, country_code=country, steps=ALL_STEPS - {step})

    assert reason in with_all.reasons, with_all
    assert reason not in without.reasons, (step, without)


def test_normalisation_families_each_have_es_pt_en_cases() -> None:
    covered = {(step, lang) for step, lang, *_ in CASES}
    for step in ALL_STEPS:
        for lang in ("es", "pt", "en"):
            assert (step, lang) in covered, (step, lang)


def test_normalised_form_shows_staff_the_decoded_text() -> None:
    text = "Mi ＷＨＡＴＳ es on\u200bce cuarenta y cinco"
    verdict = analyze(text, country_code="AR")

    assert verdict.normalized == "mi whats es 11 45"
