// The chat page: wires the sidebar, the composer and the message list to the gateway API.
//
// A conversation is {id, title, model, messages, synced}. Chat turns go to the server with the
// conversation's id and only the new user message; the server keeps the history. Generated images
// and errors live only in this browser's copy (see store.js).

import { Api, ApiError } from "./api.js";
import {
  conversations, mergeConversationLists, newConversationId, storage, titleFrom, turnsFromServer,
} from "./store.js";
import * as keyDialog from "./keydialog.js";
import * as view from "./view.js";

const $ = (id) => document.getElementById(id);
const el = {
  sidebar: $("sidebar"), scrim: $("scrim"), menu: $("menu-toggle"), title: $("chat-title"),
  status: $("status"), list: $("conversation-list"), listNote: $("conversation-note"),
  newChat: $("new-chat"), models: $("model-select"), providers: $("provider-select"),
  keyButton: $("api-key-button"), messages: $("messages"), welcome: $("welcome"),
  composer: $("composer"), prompt: $("prompt"), send: $("send"), stop: $("stop"),
  imageMode: $("image-mode"),
};

const state = {
  current: null,        // the conversation on screen
  serverHistory: null,  // true once /v1/conversations answers; false when the server lacks it
  serverList: [],       // the server's conversation list, as last fetched
  hasMore: false,
  catalogue: { chat: [], image: [] },
  controller: null,     // AbortController of the reply in progress
};

const api = new Api({ base: document.body.dataset.apiBase || "/v1", askForKey });

// --- API key -------------------------------------------------------------------------------

// Called by the API client on a 401: the new key, or null when the person declines.
async function askForKey(reason) {
  const { action, key } = await keyDialog.askForKey(reason, api.key);
  if (action === "forget") api.key = "";
  return action === "save" ? key : null;
}

el.keyButton.addEventListener("click", async () => {
  const reason = api.key ? "Change or forget the API key kept in this browser." : "Enter an API key for this gateway.";
  const { action, key } = await keyDialog.askForKey(reason, api.key);
  if (action === "cancel") return;
  api.key = key;
  loadEverything();
});

// --- Models and providers -------------------------------------------------------------------

async function loadCatalogue() {
  const [models, providers] = await Promise.allSettled([api.models(), api.providers()]);
  if (models.status === "rejected") {
    showError(models.reason);
    fillModels();
    return;
  }
  const entries = Array.isArray(models.value?.data) ? models.value.data : [];
  const usable = entries.filter((m) => !m.provider);
  // Chat models only: speech and transcription models (`tts-1`) cannot answer a chat.
  state.catalogue.chat = usable.filter((m) => m.chat).map((m) => m.id);
  state.catalogue.image = usable.filter((m) => m.image).map((m) => m.id);
  fillModels();

  // `/v1/providers` is `{"object": "list", "data": [{"provider", "working", "status", ...}]}`.
  const listed = providers.status === "fulfilled" ? providers.value?.data : null;
  const list = Array.isArray(listed)
    ? listed
    : entries.filter((m) => m.provider).map((m) => ({ provider: m.id, working: true }));
  const chosen = storage.get("provider", "");
  el.providers.replaceChildren(view.option("", "Auto (best available)"));
  for (const p of list) {
    // The state's word, as the admin shows it (catalogue/provider_state.py): "needs credential", ...
    const state = p.working === false ? ` (${(p.status || "not_working").replaceAll("_", " ")})` : "";
    el.providers.append(view.option(p.provider, (p.label || p.provider) + state));
  }
  el.providers.value = list.some((p) => p.provider === chosen) ? chosen : "";
}

function fillModels() {
  const image = el.imageMode.checked;
  const ids = image ? state.catalogue.image : state.catalogue.chat;
  const chosen = storage.get(image ? "imageModel" : "model", "");
  el.models.replaceChildren();
  if (image) el.models.append(view.option("", "Default image model"));
  else if (!ids.length) el.models.append(view.option("", "No models available", { disabled: true }));
  for (const id of ids) el.models.append(view.option(id, id));
  if (ids.includes(chosen)) el.models.value = chosen;
  else if (!image && ids.length) el.models.value = ids[0];
}

el.models.addEventListener("change", () => storage.set(el.imageMode.checked ? "imageModel" : "model", el.models.value));
el.providers.addEventListener("change", () => storage.set("provider", el.providers.value));

el.imageMode.addEventListener("change", () => {
  storage.set("imageMode", el.imageMode.checked);
  applyMode();
});

function applyMode() {
  const image = el.imageMode.checked;
  el.send.textContent = image ? "Generate" : "Send";
  el.prompt.placeholder = image
    ? "Describe an image to generate…"
    : "Message… (Enter to send, Shift+Enter for a new line, /image to draw)";
  el.providers.disabled = image;
  fillModels();
}

// --- Conversation list ----------------------------------------------------------------------

async function refreshConversations() {
  try {
    const page = await api.conversations();
    state.serverList = Array.isArray(page?.data) ? page.data : [];
    state.hasMore = Boolean(page?.has_more);
    state.serverHistory = true;
  } catch (exc) {
    // Without the endpoint, this browser's copy is the list; any other failure keeps what we had.
    if (exc instanceof ApiError && [404, 405, 501].includes(exc.status)) state.serverHistory = false;
  }
  renderConversationList();
}

function renderConversationList() {
  const { entries, stale } = mergeConversationLists(state.serverList, conversations.all(), {
    serverHistory: state.serverHistory, hasMore: state.hasMore, currentId: state.current?.id,
  });
  stale.forEach((id) => conversations.remove(id));
  el.list.replaceChildren(...entries.map((c) => view.conversationItem(c, c.id === state.current?.id)));
  el.listNote.hidden = entries.length > 0;
}

el.list.addEventListener("click", (event) => {
  const item = event.target.closest("li[data-conversation-id]");
  if (!item) return;
  const id = item.dataset.conversationId;
  if (event.target.closest(".conversation-delete")) deleteConversation(id);
  else openConversation(id);
});

async function deleteConversation(id) {
  if (state.serverHistory) {
    try {
      await api.deleteConversation(id);
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 404)) {
        showError(exc);
        return;
      }
    }
  }
  conversations.remove(id);
  state.serverList = state.serverList.filter((c) => c.id !== id);
  if (state.current?.id === id) newChat();
  else renderConversationList();
}

// --- Opening and showing a conversation -----------------------------------------------------

function newChat() {
  stopReply();
  setCurrent({ id: newConversationId(), title: "", model: "", messages: [], synced: false });
  el.prompt.focus();
}

function setCurrent(conversation) {
  state.current = conversation;
  storage.set("current", conversation.id);
  renderMessages();
  renderConversationList();
  closeSidebar();
}

async function openConversation(id) {
  if (id === state.current?.id) {
    closeSidebar();
    return;
  }
  stopReply();
  const local = conversations.get(id);
  const remote = state.serverList.find((c) => c.id === id);
  const conversation = local
    ? { ...local, messages: [...(local.messages || [])] }
    : { id, title: remote?.title || "", model: remote?.model || "", messages: [], synced: true };
  setCurrent(conversation);
  if (conversation.model && state.catalogue.chat.includes(conversation.model) && !el.imageMode.checked) {
    el.models.value = conversation.model;
  }
  if (state.serverHistory && (conversation.synced || !local)) await loadServerMessages(conversation);
}

// Shows the server's history unless this browser's copy has at least as many replies (the copy
// also has images and errors, which the server does not keep); more replies on the server mean
// the conversation went on elsewhere.
async function loadServerMessages(conversation) {
  let remote;
  try {
    remote = await api.conversation(conversation.id);
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 404)) showError(exc);
    return;
  }
  const turns = turnsFromServer(remote);
  const replies = (messages) => messages.filter((m) => m.role === "assistant" && !m.image).length;
  if (replies(turns) <= replies(conversation.messages) && conversation.messages.length) return;
  conversation.messages = turns;
  conversation.title = conversation.title || remote.title || titleFrom(turns.find((m) => m.role === "user")?.content || "");
  conversation.synced = true;
  conversations.save(conversation);
  if (state.current === conversation) {
    renderMessages();
    renderConversationList();
  }
}

function renderMessages() {
  const conversation = state.current;
  el.title.textContent = conversation.title || "New chat";
  const nodes = conversation.messages.map((m) => (m.role === "error" ? view.errorElement(m) : view.messageElement(m)));
  el.messages.replaceChildren(el.welcome, ...nodes);
  el.welcome.hidden = nodes.length > 0;
  el.messages.scrollTop = el.messages.scrollHeight;
}

// Adds an entry to a conversation, and to the screen if that conversation is still shown.
function addEntry(conversation, entry, node) {
  conversation.messages.push(entry);
  if (!conversation.title && entry.role === "user") conversation.title = titleFrom(entry.content);
  conversations.save(conversation);
  if (state.current !== conversation) return;
  el.title.textContent = conversation.title || "New chat";
  if (node && !node.isConnected) appendNode(node);
  else if (!node) appendNode(entry.role === "error" ? view.errorElement(entry) : view.messageElement(entry));
}

function appendNode(node) {
  el.welcome.hidden = true;
  el.messages.append(node);
  pinned = true;
  followBottom();
}

// New text and loaded images keep the view at the bottom, unless the person scrolled up to read.
let pinned = true;
el.messages.addEventListener("scroll", () => {
  const box = el.messages;
  pinned = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
});
el.messages.addEventListener("load", followBottom, true);

function followBottom() {
  if (pinned) el.messages.scrollTop = el.messages.scrollHeight;
}

function showError(error) {
  appendNode(view.errorElement(asError(error)));
}

function asError(exc) {
  if (exc instanceof ApiError) return exc;
  return new ApiError("Something went wrong in the page.", { detail: String(exc?.message || exc) });
}

// --- Sending --------------------------------------------------------------------------------

el.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

el.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

el.prompt.addEventListener("input", fitPrompt);

function fitPrompt() {
  el.prompt.style.height = "auto";
  el.prompt.style.height = `${Math.min(el.prompt.scrollHeight, 240)}px`;
}

async function send() {
  const text = el.prompt.value.trim();
  if (!text || state.controller) return;
  const command = text.match(/^\/image\s+([\s\S]+)/i);
  const image = el.imageMode.checked || command;
  if (!image && !el.models.value) {
    showError(new ApiError("Pick a model first.", { detail: "No chat model is available from /v1/models." }));
    return;
  }
  el.prompt.value = "";
  fitPrompt();
  if (image) await generateImage(command ? command[1].trim() : text);
  else await chat(text);
}

function beginReply(status) {
  state.controller = new AbortController();
  el.send.disabled = true;
  el.stop.hidden = false;
  el.status.textContent = status;
  return state.controller;
}

function endReply(controller) {
  if (state.controller === controller) state.controller = null;
  el.send.disabled = false;
  el.stop.hidden = true;
  el.status.textContent = "";
}

function stopReply() {
  state.controller?.abort();
}

el.stop.addEventListener("click", stopReply);

async function chat(text) {
  const conversation = state.current;
  const model = el.models.value;
  addEntry(conversation, { role: "user", content: text });
  const entry = { role: "assistant", content: "", provider: "", model };
  const node = view.messageElement(entry);
  view.showTyping(node, "Thinking");
  appendNode(node);
  const controller = beginReply("Answering…");
  // With server-side history the server supplies earlier turns; without it, send them from here.
  const messages = state.serverHistory === false ? localHistory(conversation) : [{ role: "user", content: text }];
  const body = { model, messages, conversation_id: conversation.id };
  if (el.providers.value) body.provider = el.providers.value;

  let painted = true;
  const paint = () => {
    painted = true;
    view.setMarkdown(node, entry.content);
    followBottom();
  };
  let failure = null;
  try {
    for await (const chunk of api.streamChat(body, controller.signal)) {
      if ((chunk.provider && chunk.provider !== entry.provider) || (chunk.model && chunk.model !== entry.model)) {
        entry.provider = chunk.provider || entry.provider;
        entry.model = chunk.model || entry.model;
        view.setMeta(node, entry);
      }
      if (chunk.content) {
        entry.content += chunk.content;
        if (painted) {
          painted = false;
          requestAnimationFrame(paint);
        }
      }
    }
    conversation.synced = true;
  } catch (exc) {
    if (exc.name === "AbortError") entry.stopped = true;
    else failure = asError(exc);
  } finally {
    endReply(controller);
  }
  if (entry.content) conversation.synced = true;
  if (entry.content || entry.stopped) {
    paint();
    view.setMeta(node, entry);
    addEntry(conversation, entry, node);
  } else {
    node.remove();
  }
  if (failure) addEntry(conversation, { role: "error", message: failure.message, detail: failure.detail });
  if (state.serverHistory) refreshConversations();
  else renderConversationList();
}

// The chat turns of a conversation as API messages (generated images, errors and empty replies left out).
function localHistory(conversation) {
  return conversation.messages
    .filter((m) => (m.role === "user" && m.kind !== "image") || (m.role === "assistant" && !m.image && m.content))
    .map((m) => ({ role: m.role, content: m.content }));
}

async function generateImage(prompt) {
  const conversation = state.current;
  // A /image command in chat mode uses the image model last picked in image mode.
  const saved = storage.get("imageModel", "");
  const model = el.imageMode.checked ? el.models.value : (state.catalogue.image.includes(saved) ? saved : "");
  addEntry(conversation, { role: "user", content: prompt, kind: "image" });
  const entry = { role: "assistant", content: prompt, image: "", provider: "", model };
  const node = view.messageElement(entry);
  view.showTyping(node, "Generating image…");
  appendNode(node);
  const controller = beginReply("Drawing…");
  try {
    const { url, provider } = await api.generateImage({ prompt, model, signal: controller.signal });
    Object.assign(entry, { image: url, provider });
    view.showImage(node, url, prompt);
    view.setMeta(node, entry);
    addEntry(conversation, entry, node);
  } catch (exc) {
    node.remove();
    if (exc.name === "AbortError") addEntry(conversation, { role: "error", message: "Image generation stopped." });
    else addEntry(conversation, { role: "error", message: asError(exc).message, detail: asError(exc).detail });
  } finally {
    endReply(controller);
  }
  renderConversationList();
}

// --- Sidebar on small screens, start-up ---------------------------------------------------

view.bindCopyButtons(el.messages);
el.newChat.addEventListener("click", newChat);

function closeSidebar() {
  el.sidebar.classList.remove("open");
  el.scrim.hidden = true;
  el.menu.setAttribute("aria-expanded", "false");
}

el.menu.addEventListener("click", () => {
  const open = !el.sidebar.classList.contains("open");
  el.sidebar.classList.toggle("open", open);
  el.scrim.hidden = !open;
  el.menu.setAttribute("aria-expanded", String(open));
});
el.scrim.addEventListener("click", closeSidebar);

async function loadEverything() {
  await Promise.all([loadCatalogue(), refreshConversations()]);
}

async function start() {
  el.imageMode.checked = Boolean(storage.get("imageMode", false));
  applyMode();
  const saved = conversations.get(storage.get("current", ""));
  setCurrent(saved ? { ...saved, messages: [...(saved.messages || [])] } : {
    id: newConversationId(), title: "", model: "", messages: [], synced: false,
  });
  await loadEverything();
  if (state.serverHistory && state.current.synced) await loadServerMessages(state.current);
  document.body.dataset.ready = "true";
}

start();
