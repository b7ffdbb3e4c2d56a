"""completions.conversations.store: the lease, storing a turn, reads and deletes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.models import Conversation, Message
from completions import errors
from completions.conversations import store

pytestmark = pytest.mark.django_db


def _claim(cid: str = "c1", owner: str = "key:1") -> store.ClaimedConversation:
    return store.conversation_claim(conversation_id=cid, owner=owner, api_key_id=None, model="m", lease_seconds=60)


def _store(claimed: store.ClaimedConversation, *texts: str, provider: str = "p") -> bool:
    return store.conversation_store_turn(
        conversation_id=claimed.id,
        lease_token=claimed.lease_token,
        first_position=len(claimed.messages),
        messages=[store.TurnMessage(message={"role": "user", "content": t}) for t in texts],
        provider=provider,
        model="m",
        title=store.title_from([{"role": "user", "content": t} for t in texts]),
    )


def test_claim_creates_then_loads_the_history():
    first = _claim()
    assert first.created and first.messages == [] and first.provider == ""
    assert _store(first, "hello")
    second = _claim()
    assert not second.created and second.provider == "p" and second.title == "hello"
    assert second.messages == [{"role": "user", "content": "hello"}]


def test_a_held_conversation_is_busy_until_released_or_expired():
    claimed = _claim()
    with pytest.raises(errors.ConversationBusy):
        _claim()
    store.conversation_release(conversation_id="c1", lease_token=claimed.lease_token)
    again = _claim()
    Conversation.objects.filter(id="c1").update(lease_until=timezone.now() - timedelta(seconds=1))
    assert _claim().lease_token != again.lease_token


def test_another_owner_is_told_not_found_even_while_busy():
    _claim(owner="key:1")
    with pytest.raises(errors.ConversationNotFound):
        _claim(owner="key:2")
    with pytest.raises(errors.ConversationNotFound):
        store.conversation_get(conversation_id="c1", owner="key:2")
    assert not store.conversation_delete(conversation_id="c1", owner="key:2")
    assert Conversation.objects.filter(id="c1").exists()


def test_a_turn_that_lost_its_lease_stores_nothing():
    stale = _claim()
    Conversation.objects.filter(id="c1").update(lease_until=timezone.now() - timedelta(seconds=1))
    fresh = _claim()
    assert not _store(stale, "late")
    assert _store(fresh, "on time")
    assert list(Message.objects.values_list("content", flat=True)) == ["on time"]
    store.conversation_delete(conversation_id="c1", owner="key:1")
    assert not _store(fresh, "after delete") and not Message.objects.exists()


def test_positions_follow_the_history_and_title_is_kept():
    _store(_claim(), "a", "b")
    claimed = _claim()
    assert _store(claimed, "c")
    conversation, messages = store.conversation_get(conversation_id="c1", owner="key:1")
    assert [(m.position, m.content) for m in messages] == [(0, "a"), (1, "b"), (2, "c")]
    assert conversation.title == "a"


def test_list_pages_newest_first():
    for cid in ("a", "b", "c"):
        _store(_claim(cid), cid)
    _claim("other", owner="key:2")
    page, more = store.conversation_list(owner="key:1", limit=2)
    assert [c.id for c in page] == ["c", "b"] and more and page[0].message_count == 1
    page, more = store.conversation_list(owner="key:1", limit=2, after="b")
    assert [c.id for c in page] == ["a"] and not more
    with pytest.raises(errors.ValidationFailed):
        store.conversation_list(owner="key:1", limit=2, after="other")


def test_title_from_the_first_user_text():
    long = "word " * 30
    assert store.title_from([{"role": "system", "content": "s"}, {"role": "user", "content": long}]) == (
        " ".join(long.split())[:59] + "…"
    )
    assert store.title_from([{"role": "user", "content": [{"type": "text", "text": "hi\nthere"}]}]) == "hi there"
    assert store.title_from([{"role": "assistant", "content": "x"}]) == ""
