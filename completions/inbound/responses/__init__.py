"""The OpenAI Responses API (`/v1/responses`), the client protocol of Codex and the openai-agents SDK.

- `request`: the request, checked, continued from a stored response and translated to chat;
- `render`: Response objects and output items, from a chat answer or as stored;
- `streams`: Responses events, translated from chat chunks or relayed from a native provider;
- `consumers`: the endpoint on the one lifecycle (`completions.http.lifecycle`), and the stored
  responses' `GET` / `DELETE` and input item list.
"""
