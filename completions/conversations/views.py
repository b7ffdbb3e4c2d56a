"""`GET /v1/conversations`, `GET /v1/conversations/{id}`, `DELETE /v1/conversations/{id}` (DRF).

A caller sees only its own conversations (`Caller.owner`, set by `ApiKeyPermission`); another
owner's conversation is a 404, exactly like a missing one. Without auth every caller is the same
owner, so conversations are shared.
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.models import Conversation, Message
from completions.conversations import store
from completions.openapi.schemas import (
    CONVERSATION_DELETED,
    CONVERSATION_DETAIL,
    CONVERSATION_PAGE,
    ERRORS,
    error,
)
from completions.serializers import CONVERSATION_ID_PATTERN
from g4fsite.conf import gateway_settings

MESSAGE_ID_PATTERN = r"^msg_[0-9]{1,9}$"


def message_id(message: Message) -> str:
    """A message's id within its conversation (its position, so a cursor needs no lookup)."""
    return f"msg_{message.position}"


class MessagePageSerializer(serializers.Serializer):
    """Query of `GET /v1/conversations/{id}`: `limit` (1..CONVERSATION_MESSAGES_PAGE_MAX, default
    CONVERSATION_MESSAGES_PAGE_DEFAULT), `after` (the previous page's `last_id`) and `order`
    (`asc`, oldest first, the default; or `desc`, newest first)."""

    limit = serializers.IntegerField(required=False, min_value=1)
    after = serializers.RegexField(MESSAGE_ID_PATTERN, required=False)
    order = serializers.ChoiceField(["asc", "desc"], required=False, default="asc")

    def validate_limit(self, value: int) -> int:
        largest = gateway_settings.CONVERSATION_MESSAGES_PAGE_MAX
        if value > largest:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {largest}.")
        return value


class ConversationPageSerializer(serializers.Serializer):
    """Query of `GET /v1/conversations`: `limit` (1..CONVERSATION_PAGE_MAX, default 20) and
    `after`, the id of the previous page's last conversation."""

    limit = serializers.IntegerField(required=False, default=20, min_value=1)
    after = serializers.RegexField(CONVERSATION_ID_PATTERN, required=False)

    def validate_limit(self, value: int) -> int:
        largest = gateway_settings.CONVERSATION_PAGE_MAX
        if value > largest:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {largest}.")
        return value


def conversation_summary(conversation: Conversation, message_count: int) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "object": "conversation",
        "title": conversation.title,
        "model": conversation.model,
        "provider": conversation.provider,
        "created_at": store.unix(conversation.created_at),
        "updated_at": store.unix(conversation.updated_at),
        "message_count": message_count,
    }


def message_entry(message: Message) -> dict[str, Any]:
    entry = store.message_as_dict(message)
    entry.update(
        {
            "id": message_id(message),
            "provider": message.provider,
            "model": message.model,
            "incomplete": message.incomplete,
            "usage": {
                "prompt_tokens": message.prompt_tokens,
                "completion_tokens": message.completion_tokens,
                "total_tokens": message.prompt_tokens + message.completion_tokens,
            }
            if message.role == "assistant"
            else None,
            "created_at": store.unix(message.created_at),
        }
    )
    return entry


class ConversationListView(APIView):
    """`GET /v1/conversations`: the caller's conversations, most recently updated first."""

    @extend_schema(
        operation_id="conversations_list",
        parameters=[ConversationPageSerializer],
        responses={200: CONVERSATION_PAGE, 400: error("A bad `limit` or `after`."), **ERRORS},
        tags=["conversations"],
    )
    def get(self, request: Request) -> Response:
        query = ConversationPageSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, has_more = store.conversation_list(
            owner=request.caller.owner, limit=query.validated_data["limit"], after=query.validated_data.get("after")
        )
        data = [conversation_summary(c, c.message_count) for c in page]
        return Response(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": has_more,
            }
        )


class ConversationDetailView(APIView):
    """`GET /v1/conversations/{id}` (with a page of its messages) and `DELETE /v1/conversations/{id}`.

    The detail carries `messages` (one page), `first_id`, `last_id` and `has_more`; `message_count`
    counts every message. A conversation no longer than the default page comes whole, as before."""

    @extend_schema(
        operation_id="conversations_retrieve",
        parameters=[MessagePageSerializer],
        responses={200: CONVERSATION_DETAIL, 404: error("`conversation_not_found`."), **ERRORS},
        tags=["conversations"],
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        query = MessagePageSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after = query.validated_data.get("after")
        page = store.conversation_get(
            conversation_id=conversation_id,
            owner=request.caller.owner,
            limit=query.validated_data.get("limit") or gateway_settings.CONVERSATION_MESSAGES_PAGE_DEFAULT,
            after=int(after.removeprefix("msg_")) if after else None,
            descending=query.validated_data["order"] == "desc",
        )
        detail = conversation_summary(page.conversation, page.message_count)
        detail["messages"] = [message_entry(m) for m in page.messages]
        detail["first_id"] = detail["messages"][0]["id"] if page.messages else None
        detail["last_id"] = detail["messages"][-1]["id"] if page.messages else None
        detail["has_more"] = page.has_more
        return Response(detail)

    @extend_schema(
        operation_id="conversations_delete",
        responses={200: CONVERSATION_DELETED, 404: error("`conversation_not_found`."), **ERRORS},
        tags=["conversations"],
    )
    def delete(self, request: Request, conversation_id: str) -> Response:
        if not store.conversation_delete(conversation_id=conversation_id, owner=request.caller.owner):
            raise store.not_found(conversation_id)
        return Response({"id": conversation_id, "object": "conversation.deleted", "deleted": True})
