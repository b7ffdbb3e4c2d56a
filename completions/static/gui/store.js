// What the chat page keeps in this browser: settings, the API key, and a copy of each conversation.
//
// The server owns conversation history when it offers /v1/conversations; the local copy is then a
// cache that also holds what the server does not store (generated images, errors). Without that
// endpoint the local copy is the only list of conversations.

const PREFIX = "g4f.gui.";
const CONVERSATIONS = "conversations";
const MAX_CONVERSATIONS = 200;

export const storage = {
  get(name, fallback = null) {
    try {
      const raw = localStorage.getItem(PREFIX + name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(name, value) {
    try {
      localStorage.setItem(PREFIX + name, JSON.stringify(value));
    } catch {
      // Storage full or disabled: the page still works, it just forgets on reload.
    }
  },
  remove(name) {
    try {
      localStorage.removeItem(PREFIX + name);
    } catch {
      // As above.
    }
  },
};

// Milliseconds since the epoch from a unix timestamp (seconds or ms) or an ISO date string.
export function toMillis(value) {
  if (typeof value === "number") return value < 1e12 ? value * 1000 : value;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? 0 : parsed;
}

// Conversation ids: [A-Za-z0-9_-], at most 64 characters. randomUUID needs a secure context, so
// plain-http deployments fall back to getRandomValues.
export function newConversationId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function titleFrom(text) {
  const line = String(text).replace(/\s+/g, " ").trim();
  return line.length > 60 ? `${line.slice(0, 57)}…` : line;
}

export const conversations = {
  all() {
    const list = storage.get(CONVERSATIONS, []);
    return Array.isArray(list) ? list : [];
  },
  get(id) {
    return this.all().find((c) => c.id === id) || null;
  },
  save(conversation) {
    const rest = this.all().filter((c) => c.id !== conversation.id);
    const list = [{ ...conversation, updated_at: Date.now() }, ...rest].slice(0, MAX_CONVERSATIONS);
    storage.set(CONVERSATIONS, list);
  },
  remove(id) {
    storage.set(CONVERSATIONS, this.all().filter((c) => c.id !== id));
  },
};

// The server's conversation list merged with this browser's copies, newest first, as
// {entries: [{id, title, updated}], stale: [ids]}. A synced copy the server no longer lists was
// deleted elsewhere and comes back in `stale`, unless the server's list is only a first page.
export function mergeConversationLists(serverList, localList, { serverHistory, hasMore, currentId }) {
  const entries = new Map();
  const stale = [];
  for (const c of serverList) {
    entries.set(c.id, { id: c.id, title: c.title || "", updated: toMillis(c.updated_at || c.created_at) });
  }
  for (const c of localList) {
    const known = entries.get(c.id);
    if (known) {
      known.title = known.title || c.title;
      known.updated = Math.max(known.updated, c.updated_at || 0);
    } else if (serverHistory && c.synced && !hasMore && c.id !== currentId) {
      stale.push(c.id);
    } else {
      entries.set(c.id, { id: c.id, title: c.title, updated: c.updated_at || 0 });
    }
  }
  return { entries: [...entries.values()].sort((a, b) => b.updated - a.updated), stale };
}

// The user and assistant turns of GET /v1/conversations/{id}, in this page's message shape.
export function turnsFromServer(conversation) {
  const messages = Array.isArray(conversation?.messages) ? conversation.messages : [];
  return messages
    .filter((m) => m.role === "user" || m.role === "assistant")
    .map((m) => ({ role: m.role, content: textOf(m.content), provider: m.provider || "", model: m.model || "" }));
}

function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => part?.text || "").join("");
  return "";
}
