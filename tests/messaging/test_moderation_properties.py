"""Properties of ``moderate`` over generated text (hypothesis): it never raises, spans lie in
the text and cover what they flag, the redacted text keeps none of the flagged digits or
addresses, and everyday order chat with random dates, prices and addresses stays allowed."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.moderation import Action, Reason, moderate
from messaging.moderation.engine import analyze

COUNTRIES = st.sampled_from(["AR", "MX", "BR"])
# every code point, lone surrogates and control characters included
ANY_CHAR = st.characters(codec=None, exclude_categories=())
NASTY = st.sampled_from(
    [
        *"0123456789 .-/()@+#$:*_",
        *("\u200b", "\u202e", "\ufe0f", "\u20e3", "\u0661", "\u2460", "\uff10"),
        *("arroba", "punto", "dot", " at ", "whats", "zap", "cel", "pix", "insta", "@", "wa.me/"),
    ]
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(text=st.text(ANY_CHAR, max_size=300), country=COUNTRIES)
def test_moderate_never_raises_and_spans_lie_in_the_text(text: str, country: str) -> None:
    verdict = analyze(text, country_code=country)  # no safety net: a bug would raise here

    assert moderate(text, country_code=country) == verdict
    for span in verdict.spans:
        assert 0 <= span.start < span.end <= len(text)
        assert span.reason in Reason.__members__
    assert (verdict.action == Action.ALLOW) == (verdict.reasons == ())


@PROPERTY
@given(
    parts=st.lists(st.one_of(NASTY, st.text(ANY_CHAR, max_size=4)), max_size=60), country=COUNTRIES
)
def test_moderate_never_raises_on_near_miss_fragments(parts: list[str], country: str) -> None:
    text = "".join(parts)

    verdict = analyze(text, country_code=country)

    for span in verdict.spans:
        assert 0 <= span.start < span.end <= len(text)


def _phone(draw: st.DrawFn, country: str) -> str:
    digits = draw(st.text("0123456789", min_size=8, max_size=8))
    if country == "BR":
        area = draw(st.sampled_from(["11", "21", "31", "41", "51", "61", "71", "81"]))
        number = f"{area}9{digits}"
    elif country == "MX":
        number = draw(st.sampled_from(["55", "33", "81"])) + digits
    else:
        number = draw(st.sampled_from(["11", "351", "341"])) + digits[: 10 - 2]
        number = number[:10]
    seps = draw(st.sampled_from([" ", "-", ".", "", " - ", "/", "🔥", "\u200b"]))
    cut = draw(st.lists(st.integers(1, len(number) - 1), max_size=3, unique=True))
    out, last = [], 0
    for at in sorted(cut):
        out.append(number[last:at])
        last = at
    out.append(number[last:])
    return seps.join(out)


@st.composite
def contact_messages(draw: st.DrawFn) -> tuple[str, str, str, int, int]:
    country = draw(COUNTRIES)
    kind = draw(st.sampled_from(["phone", "email"]))
    if kind == "phone":
        value = _phone(draw, country)
        lead = draw(st.sampled_from(["me chama no zap ", "mi cel es ", "call me at ", "whats: "]))
    else:
        local = draw(st.from_regex(r"[a-z][a-z0-9._]{2,12}[a-z0-9]", fullmatch=True))
        domain = draw(st.sampled_from(["gmail.com", "hotmail.com", "uol.com.br", "mail.mx"]))
        value = f"{local}@{domain}"
        lead = draw(st.sampled_from(["mi mail ", "meu email é ", "write to "]))
    tail = draw(st.sampled_from(["", " gracias", " ok?", ", obrigado!", " thanks"]))
    text = lead + value + tail
    return text, country, value, len(lead), len(lead) + len(value)


@PROPERTY
@given(case=contact_messages())
def test_moderate_redacts_every_flagged_digit_and_address(
    case: tuple[str, str, str, int, int],
) -> None:
    text, country, value, start, end = case

    verdict = moderate(text, country_code=country)

    assert verdict.action != Action.ALLOW, (text, verdict)
    covered: set[int] = set()
    for span in verdict.spans:
        covered.update(range(span.start, span.end))
    flagged = [i for i in range(start, end) if text[i].isalnum()]
    assert set(flagged) <= covered, (text, verdict.spans)
    digits = re.sub(r"[^0-9]", "", value)
    assert (digits if "@" not in value else value) not in re.sub(
        r"[^0-9]" if "@" not in value else r"$^", "", verdict.redacted_text
    )


@st.composite
def everyday_messages(draw: st.DrawFn) -> tuple[str, str]:
    country = draw(COUNTRIES)
    day, month = draw(st.integers(1, 28)), draw(st.integers(1, 12))
    year = draw(st.integers(2024, 2027))
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    amount = draw(st.integers(1, 999_999))
    thousands = f"{amount:,}".replace(",", ".")
    street_no = draw(st.integers(1, 9999))
    floor = draw(st.integers(1, 30))
    order = draw(st.integers(10_000, 9_999_999))
    qty = draw(st.integers(1, 50))
    cep = f"{draw(st.integers(10000, 99999))}-{draw(st.integers(0, 999)):03d}"
    templates = [
        f"Hola! el pedido #{order} llega el {day:02d}/{month:02d} a las {hour:02d}:{minute:02d}",
        f"Sale ${thousands} el envío, pagado en la app el {day}/{month}/{year}",
        f"Av. Corrientes {street_no} piso {floor} depto B, timbre {floor}",
        f"Obrigado! R$ {thousands},00 pago, entrega dia {day:02d}/{month:02d}/{year} às "
        f"{hour:02d}h{minute:02d}, CEP {cep}",
        f"Rua Augusta {street_no}, apto {floor}0{qty % 9 + 1}, pedido {order}",
        f"Son {qty} unidades, total ${amount}, llega el {year}-{month:02d}-{day:02d}",
        f"Order {order} delivered on {month}/{day}/{year} at {hour}:{minute:02d} pm, "
        f"${amount}.{minute:02d}",
        f"Calle 5 de Mayo {street_no}, CP {draw(st.integers(10000, 99999))}, de {hour} a "
        f"{(hour + 2) % 24} hs",
        f"mi tarjeta termina en {street_no:04d}, pagué ${thousands}",
    ]
    return draw(st.sampled_from(templates)), country


@PROPERTY
@given(case=everyday_messages())
def test_moderate_allows_everyday_dates_prices_and_addresses(case: tuple[str, str]) -> None:
    text, country = case

    verdict = moderate(text, country_code=country)

    assert verdict.action == Action.ALLOW, (text, verdict)


PROTECTED_PIECES = st.sampled_from(
    [
        *"0123456789 .,-/:#$",
        *("€", "£", "r$", "us$", "u$s", "usd ", "valor", "cep ", "cp ", "zip ", "pedido ", "nro ",
          "av ", "calle ", "piso ", "apto ", "km ", "termina en ", "br", "1z", "hs", "h", "pm",
          "pesos", "kg", " x", "años", "c1043aab", "ab"),
    ]
)  # fmt: skip


@PROPERTY
@given(parts=st.lists(PROTECTED_PIECES, max_size=60))
def test_the_dispatched_protected_pattern_finds_what_the_plain_alternation_finds(
    parts: list[str],
) -> None:
    """The speed-up of the protected-number regex (alternatives split by where they can start)
    must not change a single match of the plain alternation it is built from."""
    from messaging.moderation import detectors

    text = "".join(parts)
    dispatched = [m.span() for m in detectors._PROTECTED.finditer(text)]
    plain = [m.span() for m in detectors.PROTECTED_PLAIN.finditer(text)]
    assert dispatched == plain, text
