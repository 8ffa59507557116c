# ruff: noqa: RUF001 - look-alike characters are the point of these cases
"""``messaging.moderation.moderate``: what each detector flags, what stays allowed, the policy,
the redacted text and the spans over the original text."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings

from messaging.moderation import Action, Reason, Span, Verdict, moderate


def _check(text: str, country: str) -> Verdict:
    verdict = moderate(text, country_code=country)
    for span in verdict.spans:
        assert 0 <= span.start < span.end <= len(text)
    return verdict


BYPASS = [
    # phones: valid numbers in any supported region, or digits next to contact words
    ("AR", "Hola! mi cel es 11 4567-8901, escribime", Reason.CONTACT_PHONE),
    ("AR", "+54 9 11 4567-8901", Reason.CONTACT_PHONE),
    ("MX", "llámame al 55 1234 5678", Reason.CONTACT_PHONE),
    ("BR", "me chama no zap (11) 98765-4321", Reason.CONTACT_PHONE),
    ("BR", "meu número é 21 99876 5432 qualquer coisa", Reason.CONTACT_PHONE),
    ("MX", "my number is 1️⃣5️⃣ 5️⃣1️⃣2️⃣3️⃣ 4️⃣5️⃣6️⃣7️⃣", Reason.CONTACT_PHONE),
    ("AR", "me llamás al 4567-8901?", Reason.CONTACT_PHONE),
    ("BR", "liga 11 9 8 7 6 5 4 3 2 1", Reason.CONTACT_PHONE),
    # e-mail
    ("AR", "mandame un mail a juan.perez@gmail.com", Reason.CONTACT_EMAIL),
    ("BR", "maria_silva @ hotmail . com", Reason.CONTACT_EMAIL),
    ("MX", "write to john[at]proton[dot]me", Reason.CONTACT_EMAIL),
    # URLs
    ("AR", "mirá wa.me/5491145678901", Reason.CONTACT_URL),
    ("BR", "entra no t.me/mariapresentes", Reason.CONTACT_URL),
    ("MX", "check https://bit.ly/3xYz", Reason.CONTACT_URL),
    ("AR", "seguime en instagram.com/juanperez", Reason.CONTACT_URL),
    ("BR", "meu site lojadamaria.com.br", Reason.CONTACT_URL),
    # handles
    ("AR", "mi ig es @juanperez99", Reason.CONTACT_HANDLE),
    ("BR", "segue meu insta: maria.presentes", Reason.CONTACT_HANDLE),
    ("MX", "add me on snap: jp_2024", Reason.CONTACT_HANDLE),
    ("BR", "me acha no face como joao.silva.77", Reason.CONTACT_HANDLE),
    ("AR", "buscame juan_perez en tiktok", Reason.CONTACT_HANDLE),
    # payment outside the platform
    ("AR", "mi cbu 2850590940090418135201", Reason.PAYMENT_BYPASS),
    ("MX", "mi clabe 032180000118359719", Reason.PAYMENT_BYPASS),
    ("BR", "pix 123.456.789-09", Reason.PAYMENT_BYPASS),
    ("BR", "chave pix 11.222.333/0001-81", Reason.PAYMENT_BYPASS),
    ("BR", "minha chave pix é 123e4567-e89b-12d3-a456-426614174000", Reason.PAYMENT_BYPASS),
    ("BR", "meu pix é maria@gmail.com", Reason.PAYMENT_BYPASS),
    ("BR", "faz um pix pra mim na chave 11987654321", Reason.PAYMENT_BYPASS),
    ("AR", "te paso la tarjeta 4111 1111 1111 1111", Reason.PAYMENT_BYPASS),
    ("MX", "transfer to DE89 3704 0044 0532 0130 00", Reason.PAYMENT_BYPASS),
    ("AR", "mandá USDT a TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL", Reason.PAYMENT_BYPASS),
    ("MX", "btc: bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", Reason.PAYMENT_BYPASS),
    ("AR", "eth 0x52908400098527886E0F7030069857D2E4169EE7", Reason.PAYMENT_BYPASS),
    ("AR", "mi alias es juan.perez.mp", Reason.PAYMENT_BYPASS),
    ("AR", "te hago transferencia directa y listo", Reason.PAYMENT_BYPASS),
    ("AR", "sin comisión por fuera te sale más barato", Reason.PAYMENT_BYPASS),
    ("BR", "paga por fora que sai mais barato", Reason.PAYMENT_BYPASS),
    ("BR", "me manda um pix que eu libero", Reason.PAYMENT_BYPASS),
    ("MX", "i'll pay you with zelle, cheaper", Reason.PAYMENT_BYPASS),
    ("AR", "te cobro por mercado pago así no pagás la comisión", Reason.PAYMENT_BYPASS),
    ("MX", "paypal.me/juanperez", Reason.PAYMENT_BYPASS),
    # (held-out classes) "directly" with a word before the account, an instrument "por fora",
    # "no need to pay in the app", a Cash App cashtag
    ("MX", "deposítame directamente en mi cuenta de Santander", Reason.PAYMENT_BYPASS),
    ("BR", "te envio o boleto da loja por fora", Reason.PAYMENT_BYPASS),
    ("MX", "no necesitas pagar nada en la app, yo te lo mando", Reason.PAYMENT_BYPASS),
    ("MX", "cash app: $mariasol88 and I ship today", Reason.PAYMENT_BYPASS),
    ("AR", "pagame por afuera y te hago precio", Reason.PAYMENT_BYPASS),
    ("BR", "te mando a chave por fora", Reason.PAYMENT_BYPASS),
    # harassment, with obfuscation
    ("AR", "sos un pelotudo", Reason.HARASSMENT),
    ("AR", "p.u.t.o de mierda", Reason.HARASSMENT),
    ("MX", "eres un pendejoooo", Reason.HARASSMENT),
    ("BR", "seu otário", Reason.HARASSMENT),
    ("BR", "v a i  s e  f o d e r", Reason.HARASSMENT),
    ("MX", "you stupid b!tch", Reason.HARASSMENT),
    ("MX", "f*ck you", Reason.HARASSMENT),
    ("AR", "te voy a matar", Reason.HARASSMENT),
    ("BR", "sei onde você mora", Reason.HARASSMENT),
    ("MX", "i know where you live", Reason.HARASSMENT),
    ("BR", "seu lixo", Reason.HARASSMENT),
    ("AR", "seguí así y te parto la cara", Reason.HARASSMENT),
    ("MX", "váyase a la v3rgaaa", Reason.HARASSMENT),
    ("MX", "i'm going to find you", Reason.HARASSMENT),
    ("BR", "vou quebrar sua cara", Reason.HARASSMENT),
    ("MX", "gtfo with your excuses", Reason.HARASSMENT),
    ("MX", "te voy a dar una madriza", Reason.HARASSMENT),
    ("AR", "te voy a cagar a trompadas", Reason.HARASSMENT),
    ("BR", "vou te dar uma surra", Reason.HARASSMENT),
    ("MX", "I am going to hurt you badly", Reason.HARASSMENT),
    # e-mail: the provider first, then the user part after a comma or colon
    ("BR", "me manda no gmail: ana.souza_12", Reason.CONTACT_EMAIL),
    # a space before a bare "@" and none after: a mention, not an address split in two
    ("AR", "buscame, soy @regalos.nati.com.ar en insta", Reason.CONTACT_HANDLE),
    ("AR", "sos una basura", Reason.HARASSMENT),
    # spam
    ("AR", "a" * 60, Reason.SPAM),
    ("BR", "compra compra compra compra compra compra compra compra compra compra", Reason.SPAM),
    ("MX", "x.com/a y.com/b z.com/c", Reason.SPAM),
]


@pytest.mark.parametrize(("country", "text", "reason"), BYPASS)
def test_moderate_flags_bypass(country: str, text: str, reason: str) -> None:
    verdict = _check(text, country)

    assert reason in verdict.reasons, verdict
    assert verdict.action != Action.ALLOW


BENIGN = [
    ("AR", "El pedido #48213 llega el 12/03 a las 18:30, sale $15.000."),
    ("AR", "Av. Corrientes 1234 piso 5 depto B, CP C1043AAB, Buenos Aires"),
    ("AR", "Rivadavia 4520 8vo 12, entre 9 y 10hs"),
    ("BR", "R$ 120,00, CEP 01310-100, entrega dia 12/03/2025 às 14h30"),
    ("BR", "Rua Augusta 1500 apto 1203, bloco 2, São Paulo"),
    ("BR", "código de rastreio BR123456789BR, pedido 77812345"),
    ("MX", "tu tarjeta termina en 4321, son 2 unidades por $1,250.00"),
    ("MX", "Calle 5 de Mayo 1234, Col. Centro, CP 06000, llega el 2025-03-12"),
    ("MX", "tracking number 1Z999AA10123456784 from the platform"),
    ("AR", "La computadora llegó, el análisis de Essex está bien"),
    ("BR", "o presente chegou por fora da caixa estava amassado"),
    ("AR", "la caja llegó rota por fuera pero el regalo bien"),
    ("MX", "I paid with mercado pago in the app, thanks!"),
    ("AR", "gracias.me avisas cuando llegue?"),
    ("BR", "kkkkkkkkkk que lindo, obrigada!!!"),
    ("AR", "jajajaja buenísimo, gracias"),
    ("AR", "che boludo, llegó perfecto jaja"),
    ("MX", "class of 2019, 20 years, 3 kids"),
    ("AR", "son 3 cajas de 12 unidades, total 36"),
    ("BR", "entre 1500 e 2000 reais"),
    ("AR", "pedidos 48213, 48214 y 48215"),
    ("MX", "hora de entrega 9:00 a 18:00, el 15/12"),
    ("AR", "ver aventide.gift/ayuda para más info"),
    ("BR", "Scunthorpe, Essex, Middlesex, cocktail, Dickens"),
    ("AR", "el foro de regalos y la fora de temporada"),
    ("BR", "me avisa quando chegar, pode ligar o interfone do 1203"),
    ("MX", "at 5 pm at the door, dot matrix printer"),
    # (held-out classes) product, booking and voucher codes; paying in the app
    ("MX", "SKU 5512345678, ¿lo tienen en rojo?"),
    ("MX", "reserva 3398765432 confirmada para el viernes"),
    ("AR", "pagalo directamente en la app así te queda registrado"),
    ("AR", "el pago quedó bien, la caja vino golpeada por fuera"),
    ("AR", "la caja vino golpeada por afuera pero las flores bien"),
    ("BR", "no gmail, não tenho conta lá"),
    ("MX", "my friend @ the office loved it"),
    ("", ""),
]


@pytest.mark.parametrize(("country", "text"), BENIGN)
def test_moderate_allows_everyday_order_chat(country: str, text: str) -> None:
    verdict = _check(text, country)

    assert verdict.action == Action.ALLOW, verdict
    assert verdict.reasons == ()
    assert verdict.redacted_text == text


def test_moderate_redacts_contacts_with_placeholders_and_keeps_the_rest() -> None:
    text = "Hola! mi cel es 11 4567-8901 y mi mail juan@gmail.com, gracias"

    verdict = moderate(text, country_code="AR")

    assert verdict.action == Action.REDACT
    assert verdict.verdict is verdict.action
    assert verdict.reasons == (Reason.CONTACT_PHONE, Reason.CONTACT_EMAIL)
    assert verdict.redacted_text == (
        "Hola! mi cel es [contact removed] y mi mail [contact removed], gracias"
    )
    assert [text[s.start : s.end] for s in verdict.spans] == ["11 4567-8901", "juan@gmail.com"]


def test_moderate_spans_are_exact_over_the_original_obfuscated_text() -> None:
    text = "Mi ＷＨＡＴＳ: on\u200bce  cuarenta y cinco 6️⃣7️⃣ 89 01 ok"

    verdict = moderate(text, country_code="AR")

    (span,) = verdict.spans
    assert span == Span(text.index("on"), text.index(" ok"), Reason.CONTACT_PHONE)
    assert verdict.redacted_text == "Mi ＷＨＡＴＳ: [contact removed] ok"


def test_moderate_verdict_is_the_strictest_over_all_reasons() -> None:
    verdict = moderate("mi cel 11 4567-8901, pagame por fuera pelotudo", country_code="AR")

    assert verdict.reasons == (Reason.CONTACT_PHONE, Reason.PAYMENT_BYPASS, Reason.HARASSMENT)
    assert verdict.action == Action.BLOCK


def test_moderate_reasons_are_deduplicated_in_a_stable_order() -> None:
    verdict = moderate("sos un idiota, idiota, IDIOTA; mail a@b.com y c@d.com", country_code="MX")

    assert verdict.reasons == (Reason.CONTACT_EMAIL, Reason.HARASSMENT)


@override_settings(MODERATION_POLICY_BY_COUNTRY={"BR": {"CONTACT_HANDLE": "block"}})
def test_moderate_country_override_of_the_policy() -> None:
    text = "segue meu insta: maria.presentes"

    assert moderate(text, country_code="BR").action == Action.BLOCK
    assert moderate(text, country_code="AR").action == Action.REDACT


@override_settings(MODERATION_POLICY={"HARASSMENT": "redact"})
def test_moderate_policy_from_settings_with_defaults_for_missing_reasons() -> None:
    assert moderate("sos un pelotudo", country_code="AR").action == Action.REDACT
    assert moderate("mi alias es juan.perez.mp", country_code="AR").action == Action.BLOCK


@override_settings(MODERATION_ALLOWED_DOMAINS=["regalos.example"])
def test_moderate_allowed_platform_domains_come_from_settings() -> None:
    assert moderate("ver https://ayuda.regalos.example/x", country_code="AR").reasons == ()
    assert moderate("ver aventide.gift/ayuda", country_code="AR").reasons == (Reason.CONTACT_URL,)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01\x02\x1b[31m",
        "\u202eolleh\u202c \u200f\u200e",
        "\ud800\udfff\ud83d",
        "\u200b" * 1000,
        "١٢٣٤٥٦٧٨٩٠ ۱۲۳۴۵۶۷۸۹",
        "🇦🇷🇧🇷" * 50,
        "e\u0301\u0301\u0301" * 100,
    ],
)
def test_moderate_never_raises_on_odd_input(text: str) -> None:
    verdict = _check(text, "AR")

    assert isinstance(verdict.action, Action)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "text",
    [
        " " * 100_000,
        "1 " * 50_000,
        "a at " * 20_000,
        "x punto " * 12_500,
        "p.u." * 25_000,
        "a.a@a." * 16_000,
        "cinco " * 16_000,
        "www." * 25_000,
    ],
    ids=["spaces", "digits", "at", "punto", "symbols", "emailish", "numberwords", "www"],
)
def test_moderate_adversarial_100kb_input_finishes(text: str) -> None:
    """Linear regexes and capped work per message: 100 KB takes a fraction of a second
    (measured in bench/moderation.py); the timeout only guards against a hang."""
    verdict = moderate(text, country_code="AR")

    assert verdict.redacted_text is not None


def test_moderate_is_deterministic_and_fingerprint_ignores_cosmetics() -> None:
    a = moderate("COMPRA YA!!! el mejor regalo 100", country_code="AR")
    b = moderate("compra   ya ... el mejoooor régalo 250", country_code="AR")

    assert a == moderate("COMPRA YA!!! el mejor regalo 100", country_code="AR")
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != moderate("otra cosa", country_code="AR").fingerprint


def test_moderate_blocks_and_logs_no_text_when_the_engine_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str, **kwargs: object) -> Verdict:
        raise ValueError(f"cannot handle {text}")

    monkeypatch.setattr("messaging.moderation.engine.analyze", broken)

    with caplog.at_level(logging.ERROR, logger="messaging.moderation.engine"):
        verdict = moderate("mi mail juan@gmail.com", country_code="AR")

    assert verdict.action == Action.BLOCK
    assert verdict.reasons == ()
    (record,) = [r for r in caplog.records if r.getMessage() == "moderation.engine_error"]
    assert record.__dict__["error"] == "ValueError"
    assert "juan@gmail.com" not in caplog.text
    assert "juan" not in repr(record.__dict__)
