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
        store.conversation_get(conversation_id="c1", owner="key:2", limit=10)
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
    page = store.conversation_get(conversation_id="c1", owner="key:1", limit=10)
    assert [(m.position, m.content) for m in page.messages] == [(0, "a"), (1, "b"), (2, "c")]
    assert page.conversation.title == "a" and page.message_count == 3 and not page.has_more


def test_messages_come_in_pages_either_way():
    _store(_claim(), "a", "b", "c", "d", "e")
    page = store.conversation_get(conversation_id="c1", owner="key:1", limit=2)
    assert [m.content for m in page.messages] == ["a", "b"] and page.has_more and page.message_count == 5
    page = store.conversation_get(conversation_id="c1", owner="key:1", limit=2, after=3)
    assert [m.content for m in page.messages] == ["e"] and not page.has_more
    page = store.conversation_get(conversation_id="c1", owner="key:1", limit=2, descending=True)
    assert [m.content for m in page.messages] == ["e", "d"] and page.has_more
    page = store.conversation_get(conversation_id="c1", owner="key:1", limit=2, after=1, descending=True)
    assert [m.content for m in page.messages] == ["a"] and not page.has_more


def test_releasing_a_conversation_the_turn_created_removes_it():
    created = _claim("new")
    store.conversation_release(conversation_id="new", lease_token=created.lease_token, created=created.created)
    assert not Conversation.objects.filter(id="new").exists()
    _store(_claim("kept"), "a")
    existing = _claim("kept")
    store.conversation_release(conversation_id="kept", lease_token=existing.lease_token, created=existing.created)
    assert Conversation.objects.get(id="kept").lease_token == "" and Message.objects.count() == 1


def test_renewing_extends_only_the_holders_lease():
    claimed = _claim()
    before = Conversation.objects.get(id="c1").lease_until
    assert store.conversation_renew(conversation_id="c1", lease_token=claimed.lease_token, lease_seconds=120)
    assert Conversation.objects.get(id="c1").lease_until > before + timedelta(seconds=50)
    assert not store.conversation_renew(conversation_id="c1", lease_token="someone else", lease_seconds=120)
    store.conversation_release(conversation_id="c1", lease_token=claimed.lease_token)
    assert not store.conversation_renew(conversation_id="c1", lease_token=claimed.lease_token, lease_seconds=120)
    assert Conversation.objects.get(id="c1").lease_until is None


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
