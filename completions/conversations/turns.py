"""What the chat consumer does for a request with a `conversation_id`.

    turn = await turn_begin(request, caller)    # claim, load, dedup, prepend history (one read)
    plan = turn.route(plan)                     # the conversation's provider first
    headers += turn.answered(provider, model)   # x-conversation-id, x-conversation-provider-changed
    turn.observe(chunk) / turn.observe_completion(completion)
    await turn.finish(usage=..., incomplete=...)  # store new messages + reply, release (one write)
    await turn.close()                          # always, last: a turn cut short stores what it has

Without a conversation `turn_begin` returns `NO_CONVERSATION`, whose methods do nothing. Storing is
shielded from cancellation (a client disconnect cancels the request task) and happens at most once.

Work that grows with the stored history (loading, deduplication, trimming, storing) runs in pool
threads, never on the event loop nor in Channels' one shared database thread. While the turn runs,
one task renews its lease every third of CONVERSATION_LEASE_SECONDS, so a long stream keeps the
conversation and a crashed process's hold expires soon.
"""

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async

from completions import errors
from completions.auth import Caller
from completions.chat import ChatRequest
from completions.conversations import store
from completions.conversations.history import Turn, clean_message, prefer_provider, turn_messages, upstream_messages
from completions.routing.plan import RoutePlan
from completions.usage import usage_estimate
from g4fsite.conf import gateway_settings

logger = logging.getLogger("g4f.conversations")

Headers = list[tuple[bytes, bytes]]


def in_own_thread(function: Any) -> Any:
    """`function` as a coroutine run in a pool thread, not in Channels' one shared database thread:
    a long conversation's reads and writes then never hold up other requests' database work (such
    as a catalogue snapshot rebuild)."""
    return database_sync_to_async(function, thread_sensitive=False)


class NoConversation:
    """The turn of a request without a conversation: nothing to load, route or store."""

    def route(self, plan: RoutePlan) -> RoutePlan:
        return plan

    def answered(self, provider: str, model: str) -> Headers:
        return []

    def observe(self, chunk: dict[str, Any]) -> None:
        pass

    def observe_completion(self, completion: dict[str, Any]) -> None:
        pass

    async def finish(self, *, usage: dict[str, Any] | None = None, incomplete: bool = False) -> None:
        pass

    async def close(self) -> None:
        pass


NO_CONVERSATION = NoConversation()


async def turn_begin(request: ChatRequest, caller: Caller) -> "ConversationTurn | NoConversation":
    """Claim the request's conversation and put its history in front of the request's messages.

    Raises TooManyMessages (more sent than CONVERSATION_MAX_SENT_MESSAGES), ConversationNotFound
    (another owner's), ConversationBusy (a turn is in progress) or ConversationFull.
    """
    if not request.conversation_id:
        return NO_CONVERSATION
    sent = len(request.payload["messages"])
    most = gateway_settings.CONVERSATION_MAX_SENT_MESSAGES
    if most and sent > most:
        raise errors.TooManyMessages(
            f"A request with a conversation_id may send at most {most} messages "
            f"(CONVERSATION_MAX_SENT_MESSAGES); this one sends {sent}. "
            "Send only the new messages: the conversation keeps its history.",
            param="messages",
        )
    lease_seconds = gateway_settings.CONVERSATION_LEASE_SECONDS
    claimed = await in_own_thread(store.conversation_claim)(
        conversation_id=request.conversation_id,
        owner=caller.owner,
        api_key_id=caller.key_id,
        model=request.model,
        lease_seconds=lease_seconds,
    )
    turn = ConversationTurn(claimed, request, lease_seconds=lease_seconds)
    try:
        await asyncio.to_thread(
            turn.prepare,
            max_stored=gateway_settings.CONVERSATION_MAX_STORED_MESSAGES,
            max_messages=gateway_settings.CONVERSATION_MAX_MESSAGES,
            max_tokens=gateway_settings.CONVERSATION_MAX_TOKENS,
        )
    except BaseException:
        await turn.close()
        raise
    return turn


class ConversationTurn:
    """One request's turn in a conversation whose lease it holds until `finish` or `close`."""

    def __init__(self, claimed: store.ClaimedConversation, request: ChatRequest, *, lease_seconds: float) -> None:
        self.claimed = claimed
        self.request = request
        self.lease_seconds = lease_seconds
        self.turn: Turn | None = None
        self.title = ""
        self.provider = ""
        self.model = request.model
        self.opened = False  # the upstream began answering
        self.ended = False
        self.content: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.reply: dict[str, Any] | None = None
        self.renewal = asyncio.ensure_future(self._renew_lease())

    def prepare(self, *, max_stored: int, max_messages: int, max_tokens: int) -> None:
        """Sort the sent messages out against the history; send the history upstream with them.

        Runs in a worker thread (its cost grows with the history). Raises ConversationFull when the
        turn would store more than `max_stored` messages in all (0 = no limit)."""
        history = self.claimed.messages
        self.turn = turn_messages(history, self.request.payload["messages"])
        adding = len(self.turn.to_store) + 1  # and the reply
        if max_stored and len(history) + adding > max_stored:
            raise errors.ConversationFull(
                f"Conversation '{self.claimed.id}' holds {len(history)} messages and this turn would add "
                f"{adding}, more than CONVERSATION_MAX_STORED_MESSAGES ({max_stored}) allows. "
                "Start a new conversation.",
                param="conversation_id",
            )
        self.request.payload["messages"] = upstream_messages(
            history, self.turn, max_messages=max_messages, max_tokens=max_tokens
        )
        self.request.__dict__.pop("prompt_text", None)  # cached from the old messages, if read
        if not self.claimed.title:
            self.title = store.title_from([*history, *self.turn.to_store])

    async def _renew_lease(self) -> None:
        """Extend the lease every third of its length until the turn ends (then this is cancelled)."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                held = await in_own_thread(store.conversation_renew)(
                    conversation_id=self.claimed.id,
                    lease_token=self.claimed.lease_token,
                    lease_seconds=self.lease_seconds,
                )
            except Exception:  # a database hiccup: logged, and the next renewal may succeed
                logger.exception("Renewing the lease of conversation %s failed", self.claimed.id)
                continue
            if not held:
                logger.warning("Conversation %s: the turn lost its lease", self.claimed.id)
                return

    def route(self, plan: RoutePlan) -> RoutePlan:
        """Try the provider that answered the conversation last first, unless the client named one."""
        return prefer_provider(plan, self.claimed.provider)

    def answered(self, provider: str, model: str) -> Headers:
        """Note who answers; the response headers say which conversation, and if its provider changed."""
        self.provider, self.model = provider, model
        headers = [(b"x-conversation-id", self.claimed.id.encode())]
        previous = self.claimed.provider
        if previous and previous.lower() != provider.lower():
            headers.append((b"x-conversation-provider-changed", b"true"))
            headers.append((b"x-conversation-previous-provider", previous.encode()))
        return headers

    def observe(self, chunk: dict[str, Any]) -> None:
        """Accumulate a streamed chunk's text and tool calls (first choice only)."""
        self.opened = True
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.content.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                self._observe_call(call)

    def _observe_call(self, call: dict[str, Any]) -> None:
        entry = self.tool_calls.setdefault(
            call.get("index", len(self.tool_calls)),
            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
        )
        function = call.get("function") or {}
        entry["id"] = entry["id"] or call.get("id") or ""
        entry["function"]["name"] = entry["function"]["name"] or function.get("name") or ""
        entry["function"]["arguments"] += function.get("arguments") or ""

    def observe_completion(self, completion: dict[str, Any]) -> None:
        self.opened = True
        choices = completion.get("choices") or [{}]
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        if isinstance(message, dict):
            self.reply = clean_message({**message, "role": "assistant"})

    def _reply_message(self) -> dict[str, Any]:
        if self.reply is not None:
            return self.reply
        reply: dict[str, Any] = {"role": "assistant", "content": "".join(self.content)}
        if self.tool_calls:
            reply["tool_calls"] = [self.tool_calls[index] for index in sorted(self.tool_calls)]
            reply["content"] = reply["content"] or None
        return reply

    async def finish(self, *, usage: dict[str, Any] | None = None, incomplete: bool = False) -> None:
        """Store the turn's new messages and the reply, and release the conversation."""
        if self.ended:
            return
        self.ended = True
        self.renewal.cancel()
        reply = self._reply_message()
        if usage is None:
            usage = usage_estimate(self.request.prompt_text, str(reply.get("content") or ""))
        new = self.turn.to_store if self.turn else []
        messages = [store.TurnMessage(message=m) for m in new]
        messages.append(
            store.TurnMessage(
                message=reply,
                provider=self.provider,
                model=self.model,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                incomplete=incomplete,
            )
        )
        await self._shielded(
            store.conversation_store_turn,
            conversation_id=self.claimed.id,
            lease_token=self.claimed.lease_token,
            first_position=len(self.claimed.messages),
            messages=messages,
            provider=self.provider,
            model=self.model,
            title=self.title,
        )

    async def close(self) -> None:
        """End the turn whatever happened: a reply begun is stored as incomplete, else nothing is."""
        if self.ended:
            return
        if self.opened:
            await self.finish(incomplete=True)
            return
        self.ended = True
        self.renewal.cancel()
        await self._shielded(
            store.conversation_release,
            conversation_id=self.claimed.id,
            lease_token=self.claimed.lease_token,
            created=self.claimed.created,
        )

    async def _shielded(self, function: Any, **kwargs: Any) -> None:
        """Run a write to completion even if this request is cancelled meanwhile; never raise."""
        work = asyncio.ensure_future(in_own_thread(function)(**kwargs))
        work.add_done_callback(self._log_failure)
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - logged by _log_failure; the answer still goes out
            pass

    def _log_failure(self, work: "asyncio.Future[Any]") -> None:
        if work.cancelled():
            return
        exc = work.exception()
        if exc is not None:
            logger.error("Storing conversation %s failed", self.claimed.id, exc_info=exc)
        elif work.result() is False:
            logger.warning("Conversation %s: the turn lost its lease; its messages were not stored", self.claimed.id)
