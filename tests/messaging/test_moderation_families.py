"""Obfuscation families the first engine missed, each with its own cases (numbers, names and
phrasings of their own, not taken from the labelled corpus, which stays a held-out measure):
number words with compounds and thousands, "oh" for zero, phone groups split by prose, asides
or a trailing area code, look-alike letters inside digit groups, and reference numbers (order
ids with a year, tracking, protocol, boleto lines) that are not phones."""

from __future__ import annotations

import pytest

from messaging.moderation import Action, Reason, Verdict, moderate
from messaging.moderation.engine import analyze
from messaging.moderation.normalize import normalize


def _check(text: str, country: str) -> Verdict:
    verdict = moderate(text, country_code=country)
    for span in verdict.spans:
        assert 0 <= span.start < span.end <= len(text)
    return verdict


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("tres mil quinientos veinte", "3520"),
        ("seis mil ochocientos catorce", "6814"),
        ("nove mil e quarenta", "9040"),
        ("seven thousand two hundred sixty one", "7261"),
        ("two hundred and five", "205"),
        ("nine oh two", "9 0 2"),
        ("seven-three, oh-four", "7 3, 0 4"),
        ("mil gracias", "mil gracias"),
        ("oh no, oh well", "oh no, oh well"),
        ("ocho mil pesos", "8000 pesos"),
    ],
)
def test_number_words_read_thousands_hundreds_and_oh(text: str, normalized: str) -> None:
    assert normalize(text).text == normalized


PHONES = [
    # number words, compounds, thousands, language mixes
    ("MX", "escríbeme: treinta y tres, diecisiete, cuarenta y cinco, veintinueve, sesenta y ocho"),
    ("AR", "once, cinco mil doscientos noventa y cuatro, tres mil ochocientos sesenta y siete"),
    ("BR", "whats: trinta e um, nove, oitenta e sete, doze, quarenta e quatro, zero cinco"),
    ("MX", "ring me: three three one seven oh four double five nine two"),
    ("MX", "it's thirty-three, seventeen, forty-five, twenty-nine, sixty-eight"),
    ("MX", "mi número: tres tres, seventeen forty five, veintinueve sesenta y ocho"),
    # digit groups split by words, asides, emojis
    ("AR", "11 (anotá) 5294 (dale) 3867"),
    ("AR", "arranca con 11, sigue 5294 y cierra 3867"),
    ("MX", "primero 33 después 1745 y al último 2968"),
    ("BR", "o começo é 31, o meio 98712 e o final 4405"),
    ("BR", "31 (guarda) 98712 (isso mesmo) 4405"),
    ("MX", "start with 33, then 1745, finally 2968"),
    ("BR", "nove 🌸 oito 🌸 sete 🌸 um 🌸 dois 4405 ddd 31"),
    ("BR", "oito sete um dois, quatro quatro zero cinco, nove na frente, ddd trinta e um 9"),
    ("BR", "98712 4405, ddd 31"),
    # look-alike letters inside digit groups
    ("AR", "mi cel 1l 5Z94 3867"),
    ("MX", "33 l7O5 29B8 llámame"),
    ("BR", "zap (31) 987l2-44O5"),
]


@pytest.mark.parametrize(("country", "text"), PHONES)
def test_phones_in_words_split_or_with_look_alikes_are_flagged(country: str, text: str) -> None:
    verdict = _check(text, country)

    assert Reason.CONTACT_PHONE in verdict.reasons, verdict
    assert verdict.action != Action.ALLOW


NOT_PHONES = [
    ("AR", "El número de compra es 2025-447120, figura en la app"),
    ("MX", "Order 2023-559031 shows as shipped in the app"),
    ("MX", "la guía del envío es 5830172946, ¿ya salió?"),
    ("BR", "o rastreio mostra LB3920581746 em trânsito"),
    ("AR", "el tracking marca AR7741029385 en camino"),
    ("BR", "protocolo de atendimento 2025061804412, sem retorno"),
    ("BR", "a linha do boleto é 23790.12301 60000.000053 25000.456704 8 77770000015000"),
    ("BR", "de 3 a 8 de março de 2026 estou fora, melhor dia 12"),
    ("MX", "2 boxes of 18, 4 of 36 and 1 of 12, 70 total"),
    ("AR", "pedidos 55120, 55121 y 55122 llegaron"),
    ("MX", "oh, ok, see you at 5"),
]


@pytest.mark.parametrize(("country", "text"), NOT_PHONES)
def test_references_dates_and_quantities_are_not_phones(country: str, text: str) -> None:
    verdict = _check(text, country)

    assert verdict.action == Action.ALLOW, verdict


SOLICITATIONS = [
    ("AR", "dale, mandame tu whatsapp y lo coordinamos"),
    ("MX", "¿me das tu celular? así te marco mañana"),
    ("MX", "mejor hablamos por wsp, acá tarda mucho"),
    ("BR", "manda o seu número que te ligo mais tarde"),
    ("BR", "me liga pelo whats depois das seis"),
    ("BR", "bora pro zap que é mais rápido"),
    ("MX", "can you text me your phone number? easier that way"),
    ("AR", "ping me on telegram for the rest"),
]


@pytest.mark.parametrize(("country", "text"), SOLICITATIONS)
def test_asking_for_a_phone_or_messenger_is_flagged(country: str, text: str) -> None:
    verdict = _check(text, country)

    assert Reason.CONTACT_PHONE in verdict.reasons, verdict
    assert verdict.action == Action.REDACT


STAYING = [
    ("AR", "no uso whatsapp, sigamos por el chat de la app"),
    ("BR", "não precisa me passar seu número, falamos por aqui"),
    ("MX", "please don't send me your number, the app chat works"),
    ("BR", "vi no whatsapp da loja que abre às 9"),
    ("AR", "te escribo por acá cuando salga el pedido"),
]


@pytest.mark.parametrize(("country", "text"), STAYING)
def test_staying_on_the_platform_or_naming_a_messenger_is_allowed(country: str, text: str) -> None:
    verdict = _check(text, country)

    assert verdict.action == Action.ALLOW, verdict


PAYMENT_ROUTES = [
    ("AR", "mejor aboname en efectivo cuando pases y listo"),
    ("MX", "transfiéreme a mi cuenta y te ahorras lo de la app"),
    ("AR", "así no pagás las comisiones, dale"),
    ("MX", "te genero un link de cobro y pagas por ahí"),
    ("MX", "arreglamos directamente conmigo, más barato"),
    ("BR", "pode me pagar em dinheiro na entrega"),
    ("BR", "deposita direto na minha conta que sai mais barato"),
    ("BR", "ag 0412-7 cc 55310-2, Itaú, pode mandar"),
    ("BR", "fecho sem as taxas se você topar"),
    ("MX", "zelle me the rest, it's simpler"),
    ("MX", "PayPal works, just not through the app"),
    ("AR", "I'll drop you a Nequi link, skip the fees"),
    ("MX", "wire it to GB82 WEST 1234 5698 7654 32 when you can"),
    ("AR", "mi cuenta: DE89 3704 0044 0532 0130 00 por favor"),
]


@pytest.mark.parametrize(("country", "text"), PAYMENT_ROUTES)
def test_payment_routes_outside_the_platform_are_flagged(country: str, text: str) -> None:
    verdict = _check(text, country)

    assert Reason.PAYMENT_BYPASS in verdict.reasons, verdict
    assert verdict.action == Action.BLOCK


PAYMENT_OK = [
    ("AR", "pagué en efectivo en el Rapipago, ya figura en la app"),
    ("BR", "paguei o boleto pelo app, tudo certo"),
    ("MX", "the app took the fee, no problem"),
    ("BR", "a agência dos correios fecha às 17h"),
]


@pytest.mark.parametrize(("country", "text"), PAYMENT_OK)
def test_payments_through_the_platform_are_allowed(country: str, text: str) -> None:
    verdict = _check(text, country)

    assert verdict.action == Action.ALLOW, verdict


def test_a_messenger_link_with_a_long_number_is_a_url_not_a_card() -> None:
    verdict = _check("wa\u200b.me/\u200b5493514402817", "AR")

    assert Reason.CONTACT_URL in verdict.reasons, verdict


OTHER_BYPASS = [
    # e-mails without "@"
    ("AR", "mi hotmail es lucia.rivas77, escribime ahí", Reason.CONTACT_EMAIL),
    ("BR", "meu outlook é pedro_ramos81", Reason.CONTACT_EMAIL),
    ("MX", "carlos.mtz90 at yahoo dot com", Reason.CONTACT_EMAIL),
    ("BR", "bia.lemos, depois arroba, depois hotmail", Reason.CONTACT_EMAIL),
    # links: spaced www, a shop domain, a flood of bare domains
    ("BR", "www . lojadabia . br", Reason.CONTACT_URL),
    ("AR", "visitá mi tienda floresdeluz.ar y pedí ahí", Reason.CONTACT_URL),
    ("MX", "promo a1.co b2.co c3.co d4.co e5.co", Reason.SPAM),
    # a handle with dots after a platform word and a space
    ("BR", "me segue no insta @bia.lemos.doces", Reason.CONTACT_HANDLE),
    # harassment
    ("MX", "qué culero eres", Reason.HARASSMENT),
    ("MX", "this piece of crap seller", Reason.HARASSMENT),
    ("MX", "what a retarded answer", Reason.HARASSMENT),
    ("AR", "cuidate la espalda, sé dónde trabajás", Reason.HARASSMENT),
    ("BR", "sei o seu endereço, cuidado", Reason.HARASSMENT),
    ("MX", "better watch your back", Reason.HARASSMENT),
]


@pytest.mark.parametrize(("country", "text", "reason"), OTHER_BYPASS)
def test_other_families_are_flagged(country: str, text: str, reason: str) -> None:
    verdict = _check(text, country)

    assert reason in verdict.reasons, verdict
    assert verdict.action != Action.ALLOW


OTHER_OK = [
    ("AR", "te lo mandé por gmail ayer, fijate"),
    ("BR", "meu email já está cadastrado no app"),
    ("AR", "gracias.me avisás y paso"),
    ("MX", "the shop was closed at 6, will try tomorrow"),
    ("AR", "qué culebra más linda en la tarjeta"),
    ("MX", "my back hurts from carrying the box"),
]


@pytest.mark.parametrize(("country", "text"), OTHER_OK)
def test_other_everyday_lines_are_allowed(country: str, text: str) -> None:
    verdict = _check(text, country)

    assert verdict.action == Action.ALLOW, verdict


@pytest.mark.parametrize(
    "text",
    [
        "dos mil " * 12000,
        "one hundred " * 9000,
        "1 a " * 25000,
        "1l " * 33000,
        "1l" * 50000 + "x",
        "x.y1 at gmail " * 7000,
        "www . a " * 12000,
        "mi gmail es a.b1 " * 6000,
        "ag 1234 cc 5678 " * 6000,
    ],
)
def test_long_inputs_of_the_new_families_do_not_fail_the_engine(text: str) -> None:
    # analyze has no safety net: an exception here is a bug
    verdict = analyze(text, country_code="AR")

    assert verdict.action in (Action.ALLOW, Action.REDACT, Action.BLOCK)


@pytest.mark.parametrize(
    ("country", "text"),
    [
        ("AR", "pasame tu número de pedido así lo busco"),
        ("MX", "dame tu número de orden porfa"),
        ("BR", "me passa o seu número do pedido?"),
        ("AR", "¿no pagás la comisión si retirás en sucursal?"),
        ("AR", "llegan 3 cajas el 15, otras 2 el 18 y la última el 22"),
        ("MX", "Mesa 12, silla 34, fila 56, asiento 78, 90 invitados"),
        ("BR", "chegou dia 21, 9 horas, 98 reais e 34 centavos, 1 caixa"),
    ],
)
def test_order_numbers_asked_questions_and_prose_numbers_are_allowed(
    country: str, text: str
) -> None:
    verdict = _check(text, country)

    assert verdict.action == Action.ALLOW, verdict


@pytest.mark.parametrize(
    ("country", "text"),
    [
        ("MX", "el link de pago de la app no abre"),
        ("MX", "the payment link in the app expired"),
        ("AR", "mirá la tienda, el sitio web dice abierto.ar"),
        ("MX", "they delivered directly to me, thanks"),
        ("BR", "pode transferir direto pelo app"),
        ("MX", "can you send the gift directly to me instead"),
    ],
)
def test_the_platforms_own_payment_links_and_deliveries_are_allowed(
    country: str, text: str
) -> None:
    verdict = _check(text, country)

    assert verdict.action == Action.ALLOW, verdict


@pytest.mark.parametrize(
    ("country", "text"),
    [
        ("AR", "en 2019 pesaba 85 y ahora 7200 gramos el bebé"),
        ("AR", "la calle 11, altura 4500, entre 2300 y 2400"),
        ("MX", "section 55, row 12, seats 3456 and 7890"),
        ("MX", "room 33, then 1745 points and 2968 votes"),
        ("AR", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 ya llegó"),
    ],
)
def test_numbers_labelled_by_nouns_or_counting_are_not_joined_into_a_phone(
    country: str, text: str
) -> None:
    verdict = _check(text, country)

    assert verdict.action == Action.ALLOW, verdict
