"""Gemini's `POST {base}/models/{model}:batchEmbedContents` as the `embeddings` capability of `GeminiAdapter`.

Each input string is one request of the batch, with `dimensions` as its `outputDimensionality`.
Gemini embeds text only: token arrays raise UnsupportedCapability (an OpenAI-compatible provider of
the model may take them). The values come back as floats whatever `encoding_format` asked (the
gateway encodes base64 itself), and without token counts (the gateway estimates them).
"""

from typing import Any

from completions import errors
from completions.upstream.adapters.base import UpstreamTarget


class GeminiEmbeddings:
    """The embeddings half of `GeminiAdapter` (it brings `send` and `read_json`)."""

    async def embeddings(self, target: UpstreamTarget, payload: dict[str, Any]) -> dict[str, Any]:
        inputs = [payload["input"]] if isinstance(payload["input"], str) else payload["input"]
        if not all(isinstance(text, str) for text in inputs):
            raise errors.UnsupportedCapability("The 'gemini' protocol embeds text, not token arrays.", param="input")
        model = payload["model"]
        model = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
        options = {"outputDimensionality": payload["dimensions"]} if payload.get("dimensions") else {}
        requests = [{"model": model, "content": {"parts": [{"text": text}]}, **options} for text in inputs]
        response = await self.send(target, "POST", f"{model}:batchEmbedContents", json={"requests": requests})
        answer = self.read_json(response)
        embeddings = answer.get("embeddings") if isinstance(answer, dict) else None
        if (
            not isinstance(embeddings, list)
            or len(embeddings) != len(inputs)
            or not all(isinstance(item, dict) and isinstance(item.get("values"), list) for item in embeddings)
        ):
            raise errors.UpstreamMalformed("The provider's embeddings answer has no 'embeddings' for every input.")
        data = [
            {"object": "embedding", "index": index, "embedding": item["values"]}
            for index, item in enumerate(embeddings)
        ]
        return {"data": data}
