"""Conversations the server remembers: claiming a turn, storing it, listing, reading, deleting.

A turn is serialised per conversation by a lease in the database, so it holds across processes and
machines: `conversation_claim()` takes it with one conditional UPDATE (free or expired leases only) and
returns the stored history; `conversation_store_turn()` appends the turn's messages and releases the
lease in one transaction; `conversation_release()` releases it without storing. A claim on a leased
conversation raises `ConversationBusy`; a stale lease (crashed process) expires after its seconds.

Functions are synchronous (the chat consumer calls them through `database_sync_to_async`); they take
plain values and return plain data, never model instances that would lazily query later.
"""

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.utils import timezone

from catalogue.models import Conversation, Message, StoredResponse
from completions import errors

MESSAGE_FIELDS = ("role", "content", "name", "tool_calls", "tool_call_id")
TITLE_LENGTH = 60


def not_found(conversation_id: str) -> errors.ConversationNotFound:
    """The error for an id that names no conversation of this owner (missing, or another owner's)."""
    return errors.ConversationNotFound(f"Conversation '{conversation_id}' does not exist.", param="conversation_id")


@dataclass(frozen=True, slots=True)
class ClaimedConversation:
    """A conversation whose lease this turn holds, with its stored history as OpenAI messages."""

    id: str
    lease_token: str
    created: bool
    provider: str
    title: str
    messages: list[dict[str, Any]] = field(default_factory=list)


def message_as_dict(message: Message) -> dict[str, Any]:
    """A stored message as an OpenAI chat message (empty optional fields left out)."""
    result: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name:
        result["name"] = message.name
    if message.tool_calls:
        result["tool_calls"] = message.tool_calls
    if message.tool_call_id:
        result["tool_call_id"] = message.tool_call_id
    return result


def title_from(messages: list[dict[str, Any]]) -> str:
    """The first user message's text on one line, cut to 60 characters."""
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        text = " ".join(str(content or "").split())
        if text:
            return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"
    return ""


# --- a turn: claim, store, release ------------------------------------------------------------


def conversation_claim(
    *, conversation_id: str, owner: str, api_key_id: int | None, model: str, lease_seconds: float
) -> ClaimedConversation:
    """Take the conversation's lease for one turn, creating the conversation if it is new.

    Raises ConversationNotFound when it belongs to another owner, ConversationBusy when another turn
    holds the lease. Statements run in autocommit: the conditional UPDATE is the atomic step.
    """
    now = timezone.now()
    token = secrets.token_hex(16)
    until = now + timedelta(seconds=lease_seconds)
    claimed = (
        Conversation.objects.filter(id=conversation_id, owner=owner)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=until)
    )
    if claimed:
        conversation = Conversation.objects.only("id", "provider", "title").get(id=conversation_id)
        rows = Message.objects.filter(conversation_id=conversation_id).order_by("position")
        messages = [message_as_dict(m) for m in rows]
        return ClaimedConversation(
            id=conversation_id,
            lease_token=token,
            created=False,
            provider=conversation.provider,
            title=conversation.title,
            messages=messages,
        )
    existing_owner = Conversation.objects.filter(id=conversation_id).values_list("owner", flat=True).first()
    if existing_owner is None:
        try:
            with transaction.atomic():
                Conversation.objects.create(
                    id=conversation_id,
                    owner=owner,
                    api_key_id=api_key_id,
                    model=model,
                    lease_token=token,
                    lease_until=until,
                )
        except IntegrityError:
            # Created by a concurrent first turn a moment ago.
            existing_owner = Conversation.objects.filter(id=conversation_id).values_list("owner", flat=True).first()
        else:
            return ClaimedConversation(id=conversation_id, lease_token=token, created=True, provider="", title="")
    if existing_owner != owner:
        raise not_found(conversation_id)
    raise errors.ConversationBusy(
        f"Conversation '{conversation_id}' is answering another request; retry when it has finished.",
        param="conversation_id",
        retry_after=1,
    )


@dataclass(frozen=True, slots=True)
class TurnMessage:
    """A message to append: an OpenAI message plus, for replies, who answered and the usage."""

    message: dict[str, Any]
    provider: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    incomplete: bool = False


def conversation_store_turn(
    *,
    conversation_id: str,
    lease_token: str,
    first_position: int,
    messages: list[TurnMessage],
    provider: str,
    model: str,
    title: str,
) -> bool:
    """Append a turn's messages and release the lease, in one transaction; `title` is set only on a
    conversation that has none.

    Returns False (and stores nothing) when the lease was lost: the conversation was deleted or the
    lease expired and another turn took it; storing then could interleave two turns.
    """
    now = timezone.now()
    changes: dict[str, Any] = {"lease_token": "", "lease_until": None, "updated_at": now, "model": model}
    if provider:
        changes["provider"] = provider
    if title:  # the first title sticks
        changes["title"] = Case(When(title="", then=Value(title)), default=F("title"))
    with transaction.atomic():
        # The UPDATE comes first so that SQLite takes its write lock at once (no read-then-upgrade).
        if not Conversation.objects.filter(id=conversation_id, lease_token=lease_token).update(**changes):
            return False
        Message.objects.bulk_create(
            Message(
                conversation_id=conversation_id,
                position=first_position + offset,
                role=item.message["role"],
                content=item.message.get("content"),
                name=item.message.get("name") or "",
                tool_calls=item.message.get("tool_calls") or None,
                tool_call_id=item.message.get("tool_call_id") or "",
                provider=item.provider,
                model=item.model,
                prompt_tokens=item.prompt_tokens,
                completion_tokens=item.completion_tokens,
                incomplete=item.incomplete,
                created_at=now,
            )
            for offset, item in enumerate(messages)
        )
    return True


def conversation_release(*, conversation_id: str, lease_token: str) -> None:
    """End a turn that stores nothing (it failed before any answer)."""
    Conversation.objects.filter(id=conversation_id, lease_token=lease_token).update(lease_token="", lease_until=None)


def conversation_delete(*, conversation_id: str, owner: str) -> bool:
    """Delete the owner's conversation and its messages; False when there is none."""
    deleted, _ = Conversation.objects.filter(id=conversation_id, owner=owner).delete()
    return bool(deleted)


# --- reads -----------------------------------------------------------------------------------


def conversation_list(*, owner: str, limit: int, after: str | None = None) -> tuple[list[Conversation], bool]:
    """The owner's conversations, most recently updated first, with `message_count` annotated.

    `after` is the id of the last conversation of the previous page; returns (page, has_more).
    """
    rows = Conversation.objects.filter(owner=owner).annotate(message_count=Count("messages"))
    if after:
        anchor = Conversation.objects.filter(id=after, owner=owner).values_list("updated_at", flat=True).first()
        if anchor is None:
            raise errors.ValidationFailed("'after' names no conversation of yours.", param="after")
        rows = rows.filter(Q(updated_at__lt=anchor) | Q(updated_at=anchor, id__gt=after))
    page = list(rows.order_by("-updated_at", "id")[: limit + 1])
    return page[:limit], len(page) > limit


def conversation_get(*, conversation_id: str, owner: str) -> tuple[Conversation, list[Message]]:
    """The owner's conversation and its messages in order; raises ConversationNotFound."""
    conversation = Conversation.objects.filter(id=conversation_id, owner=owner).first()
    if conversation is None:
        raise not_found(conversation_id)
    return conversation, list(conversation.messages.order_by("position"))


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


# --- stored Responses API answers (completions.inbound.responses) ------------------------------


def response_not_found(response_id: str, param: str = "response_id") -> errors.NotFound:
    """The error for an id that names no stored response of this owner (missing, or another owner's)."""
    return errors.NotFound(f"Response with id '{response_id}' not found.", param=param)


def response_save(
    *,
    response: dict[str, Any],
    owner: str,
    api_key_id: int | None,
    provider: str,
    previous_response_id: str,
    input_items: list[dict[str, Any]],
    context: list[dict[str, Any]],
) -> bool:
    """Keep a finished response; False (nothing stored) when its id is already taken."""
    try:
        with transaction.atomic():
            StoredResponse.objects.create(
                id=response["id"],
                owner=owner,
                api_key_id=api_key_id,
                model=str(response.get("model") or "")[:200],
                provider=provider,
                previous_response_id=previous_response_id,
                response=response,
                input_items=input_items,
                context=context,
            )
    except IntegrityError:
        return False
    return True


def response_get(*, response_id: str, owner: str, param: str = "response_id") -> StoredResponse:
    """The owner's stored response; raises NotFound naming `param`."""
    stored = StoredResponse.objects.filter(id=response_id, owner=owner).first()
    if stored is None:
        raise response_not_found(response_id, param)
    return stored


def response_context(*, response_id: str, owner: str) -> list[dict[str, Any]]:
    """The items a `previous_response_id` continues from; raises NotFound (param previous_response_id)."""
    context = StoredResponse.objects.filter(id=response_id, owner=owner).values_list("context", flat=True).first()
    if context is None:
        raise response_not_found(response_id, "previous_response_id")
    return context


def response_delete(*, response_id: str, owner: str) -> bool:
    """Delete the owner's stored response; False when there is none."""
    deleted, _ = StoredResponse.objects.filter(id=response_id, owner=owner).delete()
    return bool(deleted)
