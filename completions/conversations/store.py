"""Conversations the server remembers: claiming a turn, storing it, listing, reading, deleting.

A turn is serialised per conversation by a lease in the database, so it holds across processes and
machines: `conversation_claim()` takes it with one conditional UPDATE (free or expired leases only) and
returns the stored history; `conversation_renew()` extends it while the turn runs;
`conversation_store_turn()` appends the turn's messages and releases the lease in one transaction;
`conversation_release()` releases it without storing (and removes a conversation the turn created, so
a request that fails before any answer leaves nothing behind). A claim on a leased conversation raises
`ConversationBusy`; a lease its holder stopped renewing (crashed process) expires after its seconds.

Functions are synchronous (the chat consumer calls them through `database_sync_to_async`); they take
plain values and return plain data, never model instances that would lazily query later.
"""

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, router, transaction
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
    return openai_message(message.role, message.content, message.name, message.tool_calls, message.tool_call_id)


def openai_message(role: str, content: Any, name: str, tool_calls: Any, tool_call_id: str) -> dict[str, Any]:
    """Stored message fields (in MESSAGE_FIELDS order) as an OpenAI chat message."""
    result: dict[str, Any] = {"role": role, "content": content}
    if name:
        result["name"] = name
    if tool_calls:
        result["tool_calls"] = tool_calls
    if tool_call_id:
        result["tool_call_id"] = tool_call_id
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
        messages = [openai_message(*row) for row in rows.values_list(*MESSAGE_FIELDS)]  # no model instances
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
        _insert_messages(conversation_id, first_position, messages, now)
    return True


INSERT_FIELDS = (
    "conversation",
    "position",
    "role",
    "content",
    "name",
    "tool_calls",
    "tool_call_id",
    "provider",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "incomplete",
    "created_at",
)


def _insert_messages(conversation_id: str, first_position: int, messages: list[TurnMessage], now: datetime) -> None:
    """INSERT a turn's rows with one `executemany`. `bulk_create` builds a model instance and prepares
    every field of every row (twenty times the work), which for a turn of thousands of messages held
    the interpreter lock, and so the event loop, for a second."""
    connection = connections[router.db_for_write(Message)]
    meta, quote = Message._meta, connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in INSERT_FIELDS)
    placeholders = ", ".join(["%s"] * len(INSERT_FIELDS))
    json_value = meta.get_field("content").get_db_prep_save  # tool_calls is a JSONField too
    created = meta.get_field("created_at").get_db_prep_save(now, connection)
    rows = [
        (
            conversation_id,
            first_position + offset,
            item.message["role"],
            json_value(item.message.get("content"), connection),
            item.message.get("name") or "",
            json_value(item.message.get("tool_calls") or None, connection),
            item.message.get("tool_call_id") or "",
            item.provider,
            item.model,
            item.prompt_tokens,
            item.completion_tokens,
            item.incomplete,
            created,
        )
        for offset, item in enumerate(messages)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})", rows)


def conversation_renew(*, conversation_id: str, lease_token: str, lease_seconds: float) -> bool:
    """Extend the turn's lease to `lease_seconds` from now; False when the turn no longer holds it."""
    until = timezone.now() + timedelta(seconds=lease_seconds)
    return bool(Conversation.objects.filter(id=conversation_id, lease_token=lease_token).update(lease_until=until))


def conversation_release(*, conversation_id: str, lease_token: str, created: bool = False) -> None:
    """End a turn that stores nothing (it failed before any answer). A conversation this turn created
    is deleted: it has no messages, and a failed request leaves nothing behind."""
    held = Conversation.objects.filter(id=conversation_id, lease_token=lease_token)
    if created:
        held.delete()
    else:
        held.update(lease_token="", lease_until=None)


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


@dataclass(frozen=True, slots=True)
class MessagePage:
    """A page of a conversation's messages, with the conversation's whole message count."""

    conversation: Conversation
    messages: list[Message]
    message_count: int
    has_more: bool


def conversation_get(
    *, conversation_id: str, owner: str, limit: int, after: int | None = None, descending: bool = False
) -> MessagePage:
    """The owner's conversation and one page of its messages; raises ConversationNotFound.

    Messages come by position (oldest first, or newest first when `descending`), starting after the
    message at position `after`; at most `limit` of them.
    """
    conversation = Conversation.objects.filter(id=conversation_id, owner=owner).first()
    if conversation is None:
        raise not_found(conversation_id)
    rows = Message.objects.filter(conversation_id=conversation_id)
    count = rows.count()
    if after is not None:
        rows = rows.filter(position__lt=after) if descending else rows.filter(position__gt=after)
    page = list(rows.order_by("-position" if descending else "position")[: limit + 1])
    return MessagePage(conversation, page[:limit], count, len(page) > limit)


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
