// DOM building for the chat page. Model text reaches innerHTML only through renderMarkdown, which
// escapes it; everything else is set with textContent or DOM properties.

import { renderMarkdown } from "./markdown.js";

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// One message: <article class="message user|assistant"> with a .content and, for replies, a .meta
// line saying which provider answered.
export function messageElement(entry) {
  const article = make("article", `message ${entry.role}`);
  article.dataset.testid = `message-${entry.role}`;
  const content = make("div", "content");
  article.append(content);
  if (entry.role === "user") {
    content.textContent = entry.content;
    if (entry.kind === "image") article.prepend(make("span", "badge", "Image"));
    return article;
  }
  article.append(make("div", "meta"));
  if (entry.image) showImage(article, entry.image, entry.content);
  else setMarkdown(article, entry.content || "");
  setMeta(article, entry);
  return article;
}

export function setMarkdown(article, text) {
  article.querySelector(".content").innerHTML = renderMarkdown(text);
}

export function showTyping(article, label) {
  const content = article.querySelector(".content");
  content.replaceChildren();
  const typing = make("span", "typing");
  typing.dataset.testid = "typing";
  typing.setAttribute("role", "status");
  typing.setAttribute("aria-label", label);
  typing.append(make("i"), make("i"), make("i"));
  if (label !== "Thinking") typing.append(make("span", "typing-label", label));
  content.append(typing);
}

export function showImage(article, url, prompt) {
  const figure = make("figure", "generated-image");
  const anchor = make("a");
  anchor.href = url;
  anchor.target = "_blank";
  anchor.rel = "noopener noreferrer";
  const img = make("img");
  img.src = url;
  img.alt = prompt || "Generated image";
  img.dataset.testid = "generated-image";
  anchor.append(img);
  figure.append(anchor);
  if (prompt) figure.append(make("figcaption", "", prompt));
  article.querySelector(".content").replaceChildren(figure);
}

export function setMeta(article, entry) {
  if (entry.provider) article.dataset.provider = entry.provider;
  const parts = [];
  if (entry.provider) parts.push(`via ${entry.provider}`);
  if (entry.model) parts.push(entry.model);
  if (entry.stopped) parts.push("stopped");
  article.querySelector(".meta").textContent = parts.join(" · ");
}

// A plain-words error box: what happened, then what the server said in smaller print.
export function errorElement(error) {
  const box = make("div", "error");
  box.setAttribute("role", "alert");
  box.dataset.testid = "error";
  box.append(make("strong", "", error.message || "Something went wrong."));
  if (error.detail && error.detail !== error.message) box.append(make("span", "detail", error.detail));
  return box;
}

export function conversationItem(conversation, active) {
  const li = make("li", active ? "active" : "");
  li.dataset.conversationId = conversation.id;
  const open = make("button", "conversation-open", conversation.title || "Untitled chat");
  open.type = "button";
  open.title = conversation.title || "Untitled chat";
  if (active) open.setAttribute("aria-current", "true");
  const remove = make("button", "conversation-delete", "×");
  remove.type = "button";
  remove.dataset.testid = "delete-conversation";
  remove.setAttribute("aria-label", `Delete “${conversation.title || "Untitled chat"}”`);
  li.append(open, remove);
  return li;
}

export function option(value, label, { disabled = false } = {}) {
  const node = make("option", "", label);
  node.value = value;
  node.disabled = disabled;
  return node;
}

// Copy buttons on code blocks, for every block rendered inside `container` now or later.
export function bindCopyButtons(container) {
  container.addEventListener("click", async (event) => {
    const button = event.target.closest(".copy-code");
    if (!button) return;
    const code = button.closest(".code-block")?.querySelector("code")?.textContent || "";
    try {
      await copyText(code);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-http deployments have no Clipboard API; the old selection trick still works there.
  const area = make("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}
