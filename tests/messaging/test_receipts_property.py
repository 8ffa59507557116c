"""Property (issue 14, acceptance): random sequences of acks -- any party, either kind, any
seq (valid or not), interleaved with sends that move ``last_seq`` -- never lower a watermark;
always ``read <= delivered <= last_seq``; a valid ack lands exactly where a max-model says;
an invalid one is ``INVALID_ACK`` and changes nothing; one receipt event per move."""

from __future__ import annotations

import itertools
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aventide.core.errors import DomainError
from messaging import services
from messaging.models import Conversation, Participant
from realtime.models import Event as RealtimeEvent
from tests.messaging.conftest import ChatWorld

pytestmark = pytest.mark.django_db

PARTIES = ("buyer", "seller", "recipient")
_texts = itertools.count()


def _body() -> str:
    """A text unlike every other (moderation blocks repeated normalised text as spam)."""
    n, word = next(_texts), ""
    while True:
        n, rest = divmod(n, 26)
        word += string.ascii_lowercase[rest]
        if not n:
            break
    return f"consulta {word} sobre el pedido"


#: ("ack", party, kind, seq offset from last_seq) | ("send", party, ...)
op = st.one_of(
    st.tuples(
        st.just("ack"),
        st.sampled_from(PARTIES),
        st.sampled_from(("delivered", "read")),
        st.integers(min_value=-8, max_value=3),  # seq = last_seq + offset (may be < 0 or > last)
    ),
    st.tuples(st.just("send"), st.sampled_from(PARTIES), st.just(""), st.just(0)),
)


@pytest.fixture
def roomy(settings: Any) -> None:
    """This test sends hundreds of messages: lift the rate limits (not the defaults)."""
    settings.MESSAGING_RATE_PER_CONVERSATION = 100_000
    settings.MESSAGING_RATE_PER_SENDER = 100_000


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=25))
def test_random_acks_never_lower_a_watermark_and_read_never_passes_delivered(
    chat: ChatWorld, roomy: None, ops: list[tuple[str, str, str, int]]
) -> None:
    order = chat.new_order()
    conversation = chat.active(order)  # last_seq 1 (the activation's system message)
    actors = {
        "buyer": chat.p(chat.buyer),
        "seller": chat.p(chat.seller),
        "recipient": chat.recipient(order),
    }
    model = dict.fromkeys(PARTIES, (0, 0))  # party -> (delivered, read)
    last_seq = 1
    moves = 0
    for action, party, kind, offset in ops:
        if action == "send":
            sent = chat.send(actors[party], conversation, _body())
            last_seq = sent.message.seq
            continue
        seq = last_seq + offset
        delivered, read = model[party]
        if 0 <= seq <= last_seq:
            result = services.message_ack(
                actor=actors[party], conversation_id=conversation.pk, kind=kind, up_to_seq=seq
            )
            new_delivered = max(delivered, seq)
            new_read = max(read, seq) if kind == "read" else read
            assert (result.delivered_up_to_seq, result.read_up_to_seq) == (
                new_delivered,
                new_read,
            )
            assert result.moved == ((new_delivered, new_read) != (delivered, read))
            moves += result.moved
            model[party] = (new_delivered, new_read)
        else:
            with pytest.raises(DomainError) as exc:
                services.message_ack(
                    actor=actors[party], conversation_id=conversation.pk, kind=kind, up_to_seq=seq
                )
            assert exc.value.code == "INVALID_ACK"
        rows = {
            p.role: (p.delivered_up_to_seq, p.read_up_to_seq)
            for p in Participant.objects.filter(conversation=conversation)
        }
        for name in PARTIES:
            before_delivered, before_read = model[name] if name != party else (delivered, read)
            now_delivered, now_read = rows[name]
            assert now_delivered >= before_delivered and now_read >= before_read  # never lower
            assert now_read <= now_delivered <= last_seq
        assert rows == model
    assert Conversation.objects.get(pk=conversation.pk).last_seq == last_seq
    events = RealtimeEvent.objects.filter(stream=conversation.stream, type="message.receipt")
    assert events.count() == moves
