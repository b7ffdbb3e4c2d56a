// The gateway's HTTP API as the chat page uses it: the API key, JSON calls, the SSE chat stream,
// and errors turned into plain words.

import { storage } from "./store.js";

const KEY_NAME = "apiKey";

// An error worth showing to a person: `message` says what happened in plain words, `detail` is what
// the server said (if anything), `status`/`type`/`code` come from the OpenAI-style error body.
export class ApiError extends Error {
  constructor(message, { detail = "", status = 0, type = "", code = "" } = {}) {
    super(message);
    this.name = "ApiError";
    Object.assign(this, { detail, status, type, code });
  }
}

const PLAIN_WORDS = {
  400: "The request was not accepted.",
  401: "The API key was not accepted.",
  403: "This API key is not allowed to do that.",
  404: "Not found.",
  408: "The request took too long.",
  413: "The message is too long.",
  429: "Too many requests right now.",
  500: "The gateway hit an internal error.",
  502: "No provider could answer right now.",
  503: "The service is unavailable right now.",
  504: "The provider took too long to answer.",
};

export function errorFromBody(body, status = 0, retryAfter = null) {
  const error = (body && typeof body === "object" && body.error) || {};
  const detail = typeof error === "string" ? error : String(error.message || "");
  let message = PLAIN_WORDS[status] || (status ? `The request failed (HTTP ${status}).` : "Something went wrong.");
  if (status === 429 && retryAfter) message += ` Try again in ${retryAfter} seconds.`;
  if (!status && detail) message = "The reply stopped with an error.";
  return new ApiError(message, { detail, status, type: error.type || "", code: error.code || "" });
}

function networkError(exc) {
  return new ApiError("Could not reach the gateway. Check that the server is running.", {
    detail: exc && exc.message ? exc.message : "",
  });
}

export class Api {
  // `askForKey(reason)` resolves to a new key, or null when the person declines to give one.
  constructor({ base, askForKey }) {
    this.base = base.replace(/\/+$/, "");
    this.askForKey = askForKey;
  }

  get key() {
    return storage.get(KEY_NAME, "");
  }

  set key(value) {
    if (value) storage.set(KEY_NAME, value);
    else storage.remove(KEY_NAME);
  }

  // Sends a request and returns the Response once it is 2xx. A 401 asks for a key and retries;
  // any other failure raises ApiError. Aborts propagate as the DOMException fetch throws.
  async request(path, { method = "GET", body, signal, accept = "application/json" } = {}) {
    for (;;) {
      const headers = { Accept: accept };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (this.key) headers.Authorization = `Bearer ${this.key}`;
      let response;
      try {
        response = await fetch(this.base + path, {
          method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (exc) {
        if (exc.name === "AbortError") throw exc;
        throw networkError(exc);
      }
      if (response.ok) return response;
      const failure = errorFromBody(await readJson(response), response.status, response.headers.get("Retry-After"));
      if (response.status !== 401) throw failure;
      const reason = this.key ? "That API key was not accepted. Enter another one." : "This gateway needs an API key.";
      const key = await this.askForKey(reason);
      if (!key) {
        failure.message = "An API key is needed. Use “API key…” in the sidebar to enter one.";
        throw failure;
      }
      this.key = key;
    }
  }

  async json(path, options) {
    const response = await this.request(path, options);
    return readJson(response);
  }

  models() {
    return this.json("/models");
  }

  providers() {
    return this.json("/providers");
  }

  conversations() {
    return this.json("/conversations");
  }

  conversation(id) {
    return this.json(`/conversations/${encodeURIComponent(id)}`);
  }

  deleteConversation(id) {
    return this.request(`/conversations/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  // Resolves to {url, provider}; url is a same-origin path or a data: URL.
  async generateImage({ prompt, model, signal }) {
    const body = { prompt, n: 1, response_format: "url" };
    if (model) body.model = model;
    const response = await this.request("/images/generations", { method: "POST", body, signal });
    const result = await readJson(response);
    const image = (result && Array.isArray(result.data) && result.data[0]) || {};
    const url = image.url || (image.b64_json ? `data:image/png;base64,${image.b64_json}` : "");
    if (!url) throw new ApiError("The image service answered without an image.");
    return { url, provider: response.headers.get("x-provider") || result.provider || "" };
  }

  // Yields {content, provider, model} per chunk of a streamed chat completion. Raises ApiError
  // for an error event or a stream that ends without [DONE].
  async *streamChat(body, signal) {
    const response = await this.request("/chat/completions", {
      method: "POST", body: { ...body, stream: true }, signal, accept: "text/event-stream",
    });
    const headerProvider = response.headers.get("x-provider") || "";
    if ((response.headers.get("Content-Type") || "").includes("application/json")) {
      // The server chose not to stream; show the whole reply at once.
      const completion = await readJson(response);
      const message = completion?.choices?.[0]?.message || {};
      yield { content: message.content || "", provider: completion?.provider || headerProvider, model: completion?.model || "" };
      return;
    }
    let finished = false;
    for await (const data of sseData(response.body)) {
      if (data === "[DONE]") {
        finished = true;
        break;
      }
      let chunk;
      try {
        chunk = JSON.parse(data);
      } catch {
        continue;
      }
      if (chunk.error) throw errorFromBody(chunk);
      const delta = chunk.choices?.[0]?.delta || {};
      yield { content: delta.content || "", provider: chunk.provider || headerProvider, model: chunk.model || "" };
    }
    if (!finished) throw new ApiError("The connection closed before the reply finished.");
  }
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// The payload of each `data:` line. Events are read line by line: every chunk is one line of JSON.
// Aborting the fetch's signal also errors this body stream, so Stop needs nothing extra here.
async function* sseData(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (const line of lines) {
        if (line.startsWith("data:")) yield line.slice(5).trim();
      }
    }
    if (buffer.startsWith("data:")) yield buffer.slice(5).trim();
  } finally {
    reader.cancel().catch(() => {});
  }
}
