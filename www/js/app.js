// app.js — the chatstream chat client: wiring of the page (index.html).
//
//   chat.js      one streaming request (fetch + sse.js)
//   markdown.js  safe Markdown → DOM (no innerHTML with model text)
//   store.js     conversations and settings in localStorage
//
// Rendering while streaming happens at most once per animation frame.
// document.documentElement.dataset.busy is "1" while a reply streams (the
// browser tests wait on it).
//
// A chat the server refuses for now (429 rate_limited / budget_exceeded,
// 503 overloaded / state_unavailable, with Retry-After) shows the server's
// message and when to try again, and Send waits until then (the limits are
// per client, so in every conversation; the time is kept with the message,
// so a reload waits too).

import { streamChat } from "./chat.js";
import { el } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { Store, historyFor } from "./store.js";

const $ = (id) => document.getElementById(id);
const store = new Store();
const ui = {
  messages: $("messages"), scroller: $("scroller"), empty: $("empty"),
  form: $("form"), prompt: $("prompt"), send: $("send"), stop: $("stop"),
  jump: $("jump"), model: $("model"), instructions: $("instructions"),
  instructionsField: $("instructions-field"), temperature: $("temperature"),
  temperatureValue: $("temperature-value"), historySize: $("history-size"),
  conversations: $("conversations"), newChat: $("new-chat"), title: $("conv-title"),
  announce: $("announce"), editing: $("editing"), cancelEdit: $("cancel-edit"),
  sidebar: $("sidebar"), scrim: $("scrim"), openSidebar: $("open-sidebar"),
  closeSidebar: $("close-sidebar"), waiting: $("waiting"),
};

let server = { models: [], default: "", instructionsAllowed: false, loaded: false };
let active = null;          // {conv, msg, controller, el}
let editIndex = null;       // index of the user message being edited
let stick = true;           // auto-scroll follows the stream
let waitUntil = 0;          // Date.now() before which Send waits (Retry-After)
let waitType = "";          // the refusal's error type
let waitTimer = 0;

function button(text, cls, onClick, label) {
  const b = el("button", cls, text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function announce(text) {
  ui.announce.textContent = "";
  // a fresh text node so screen readers announce repeats too
  requestAnimationFrame(() => { ui.announce.textContent = text; });
}

async function copyText(text, btn) {
  const old = btn.textContent;
  let ok = true;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    ok = false;
  }
  btn.textContent = ok ? "Copied" : "Copy failed";
  setTimeout(() => { btn.textContent = old; }, 1500);
}

// --- settings and models ------------------------------------------------

function applySettings() {
  const s = store.settings;
  ui.instructions.value = s.instructions ?? "";
  ui.temperature.value = s.temperature === "" ? "" : String(s.temperature);
  ui.historySize.value = String(s.historySize);
  ui.temperatureValue.textContent = s.temperature === "" ? "default" : "";
}

function readSettings() {
  const s = store.settings;
  s.instructions = ui.instructions.value;
  const t = ui.temperature.value.trim();
  const tn = Number(t);
  s.temperature = t === "" || !Number.isFinite(tn) ? "" : Math.min(2, Math.max(0, tn));
  const h = Math.floor(Number(ui.historySize.value));
  s.historySize = Number.isFinite(h) && h >= 1 ? Math.min(h, 1000) : 20;
  s.model = ui.model.value;
  ui.temperatureValue.textContent = s.temperature === "" ? "default" : "";
  store.saveSettings();
}

async function loadModels() {
  try {
    const res = await fetch("api/models", { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    const j = await res.json();
    server = {
      models: Array.isArray(j.data) ? j.data : [],
      default: typeof j.default === "string" ? j.default : "",
      instructionsAllowed: j.instructions_allowed !== false,
      maxBodyBytes: Number.isInteger(j.max_body_bytes) ? j.max_body_bytes : 0,
      loaded: true,
    };
  } catch {
    server.loaded = false;
  }
  const sel = ui.model;
  sel.replaceChildren();
  if (!server.models.length) {
    sel.append(new Option("Default model", ""));
  }
  for (const m of server.models) {
    if (typeof m?.id !== "string") continue;
    let label = m.id;
    if (typeof m.description === "string" && m.description) label += " — " + m.description;
    if (m.id === server.default) label += " (default)";
    sel.append(new Option(label, m.id));
  }
  const wanted = store.settings.model;
  const ids = server.models.map((m) => m.id);
  sel.value = ids.includes(wanted) ? wanted : (server.default || ids[0] || "");
  showInstructionsField();
  document.documentElement.dataset.models = "loaded";
}

// Each model says whether it takes client instructions (an alias may fix
// its own); the top-level flag is the default model's.
function instructionsAllowed() {
  const m = server.models.find((x) => x?.id === ui.model.value);
  if (m && typeof m.instructions_allowed === "boolean") return m.instructions_allowed;
  return server.instructionsAllowed;
}

function showInstructionsField() {
  ui.instructionsField.hidden = !instructionsAllowed();
}

// --- conversations list -------------------------------------------------

function renderConversations() {
  ui.conversations.replaceChildren();
  for (const c of store.conversations) {
    const li = el("li", "conv" + (c.id === store.currentId ? " current" : ""));
    li.dataset.id = c.id;
    const open = button(c.title || "New chat", "conv-open", () => switchTo(c.id));
    if (c.id === store.currentId) open.setAttribute("aria-current", "true");
    const rename = button("✎", "icon conv-rename", () => renameConv(c), "Rename “" + (c.title || "New chat") + "”");
    const del = button("×", "icon conv-delete", () => deleteConv(c), "Delete “" + (c.title || "New chat") + "”");
    for (const b of [open, rename, del]) b.disabled = !!active;
    li.append(open, rename, del);
    ui.conversations.append(li);
  }
  ui.title.textContent = store.current?.title || "New chat";
  document.title = (store.current?.title ? store.current.title + " — " : "") + "chatstream";
}

function switchTo(id) {
  if (active) return;
  store.select(id);
  cancelEdit();
  renderAll();
  closeSidebar();
  ui.prompt.focus();
}

function renameConv(c) {
  if (active) return;
  const li = ui.conversations.querySelector(`li[data-id="${CSS.escape(c.id)}"]`);
  if (!li) return;
  const input = el("input", "conv-title-input");
  input.value = c.title || "";
  input.setAttribute("aria-label", "Conversation name");
  let done = false;
  const finish = (save) => {
    if (done) return;
    done = true;
    if (save && input.value.trim()) store.rename(c.id, input.value);
    renderConversations();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
  li.replaceChildren(input);
  input.focus();
  input.select();
}

// Delete asks inline (no blocking confirm() dialog): "Delete? [Delete] [Keep]".
function deleteConv(c) {
  if (active) return;
  const li = ui.conversations.querySelector(`li[data-id="${CSS.escape(c.id)}"]`);
  if (!c.messages.length || !li) {
    store.remove(c.id);
    renderAll();
    return;
  }
  const ask = el("span", "conv-ask", "Delete this chat?");
  const yes = button("Delete", "small danger conv-confirm-delete", () => {
    store.remove(c.id);
    renderAll();
    ui.prompt.focus();
  });
  const no = button("Keep", "small", () => renderConversations());
  li.replaceChildren(ask, yes, no);
  li.classList.add("asking");
  no.focus();
}

function newChat() {
  if (active) return;
  const cur = store.current;
  if (cur && !cur.messages.length) { ui.prompt.focus(); closeSidebar(); return; }
  store.create();
  cancelEdit();
  renderAll();
  closeSidebar();
  ui.prompt.focus();
}

// --- messages -----------------------------------------------------------

function describeFinish(msg) {
  const f = msg.finish;
  if (!f) return "";
  switch (f.finish_reason) {
    case "length": return "cut off: length limit";
    case "content_filter": return "cut off: content filter";
    case "tool_calls": return "the model asked to call a tool";
    case "stop": return "";
    default: return f.native_finish_reason ? "finished: " + f.native_finish_reason : "";
  }
}

function usageText(u) {
  if (!u || typeof u !== "object") return "";
  const parts = [];
  if (Number.isFinite(u.prompt_tokens)) parts.push(u.prompt_tokens + " prompt");
  if (Number.isFinite(u.completion_tokens)) parts.push(u.completion_tokens + " completion");
  if (Number.isFinite(u.total_tokens)) parts.push(u.total_tokens + " total tokens");
  return parts.join(" · ");
}

function userMessageEl(msg, index) {
  const art = el("article", "msg user");
  art.dataset.index = index;
  art.append(el("h2", "who visually-hidden", "You"));
  art.append(el("div", "bubble", msg.content));
  const actions = el("div", "actions");
  actions.append(button("Edit", "small", () => startEdit(index), "Edit and resend"));
  art.append(actions);
  return art;
}

function placeCursor(content) {
  let target = content.lastElementChild;
  while (target && (target.tagName === "UL" || target.tagName === "OL" ||
                    target.tagName === "BLOCKQUOTE") && target.lastElementChild) {
    target = target.lastElementChild;
  }
  if (target?.classList.contains("code-block")) target = target.querySelector("code");
  if (!target || target.classList.contains("table-wrap") || target.tagName === "HR") {
    target = content;
  }
  target.append(el("span", "cursor"));
}

function renderContent(msg, content) {
  renderMarkdown(msg.content, content);
  if (msg.refusal) {
    const r = el("p", "refusal", msg.refusal);
    content.append(r);
  }
  if (msg.state === "streaming") placeCursor(content);
}

function assistantMessageEl(msg, index, isLast) {
  const art = el("article", "msg assistant");
  art.dataset.index = index;
  art.dataset.state = msg.state || "done";
  art.append(el("h2", "who visually-hidden", "Assistant"));
  if (msg.trimmed) {
    art.append(el("p", "notice trimmed",
      `Only the last ${msg.sent} messages were sent (${msg.trimmed} older left out — see Settings).`));
  }
  if (msg.reasoning) {
    const d = el("details", "reasoning");
    d.append(el("summary", null, "Reasoning"), el("div", "reasoning-text", msg.reasoning));
    art.append(d);
  }
  const content = el("div", "content md");
  renderContent(msg, content);
  art.append(content);
  if (msg.toolCalls?.length) {
    for (const tc of msg.toolCalls) {
      const d = el("details", "tool-call");
      d.append(el("summary", null, "Tool call: " + (tc.name || "?")),
               el("pre", null, tc.arguments || ""));
      art.append(d);
    }
  }
  const status = el("p", "status");
  const note = [];
  if (msg.state === "stopped") note.push(msg.note ? "stopped — " + msg.note : "stopped");
  const fin = describeFinish(msg);
  if (fin) note.push(fin);
  if (note.length) status.textContent = note.join(" · ");
  if (!note.length) status.hidden = true;
  art.append(status);

  if (msg.state === "error" || msg.state === "dropped") {
    const err = el("div", "error");
    err.setAttribute("role", "alert");
    const text = msg.state === "dropped"
      ? "The connection was lost before the answer was complete."
      : (msg.error || "Something went wrong.");
    err.append(el("span", "error-text", text));
    if (msg.retryAt > Date.now()) {
      // the countdown ticks in place; the alert above announced it once
      const when = el("span", { class: "retry-when", "aria-live": "off" },
                      untilText(msg.retryAt, msg.errorType));
      when.dataset.at = msg.retryAt;
      when.dataset.type = msg.errorType || "";
      err.append(when);
    }
    if (isLast) err.append(button("Retry", "retry", () => regenerate()));
    art.append(err);
  }
  const meta = [];
  if (msg.model) meta.push(msg.model);
  const u = usageText(msg.usage);
  if (u) meta.push(u);
  if (meta.length && msg.state !== "streaming") {
    const m = el("p", "meta", meta.join(" · "));
    if (msg.usage) m.title = JSON.stringify(msg.usage);
    art.append(m);
  }
  if (msg.state !== "streaming") {
    const actions = el("div", "actions");
    if (msg.content) {
      actions.append(button("Copy", "small copy", (e) => copyText(msg.content, e.currentTarget),
                            "Copy the answer"));
    }
    if (isLast && msg.state !== "error" && msg.state !== "dropped") {
      actions.append(button("Regenerate", "small regenerate", () => regenerate(),
                            "Regenerate the answer"));
    }
    if (actions.childElementCount) art.append(actions);
  }
  return art;
}

function renderMessages() {
  const conv = store.current;
  const msgs = conv?.messages ?? [];
  ui.messages.replaceChildren();
  msgs.forEach((m, i) => {
    const isLast = i === msgs.length - 1;
    ui.messages.append(m.role === "user" ? userMessageEl(m, i)
                                         : assistantMessageEl(m, i, isLast));
  });
  ui.empty.hidden = msgs.length > 0;
  if (active && active.conv === conv) {
    active.el = ui.messages.querySelector(`article[data-index="${msgs.indexOf(active.msg)}"]`);
  }
}

function renderAll() {
  renderConversations();
  renderMessages();
  setBusy(!!active);
  scrollToBottom(true);
}

// --- scrolling ----------------------------------------------------------

function nearBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
}

function scrollToBottom(force) {
  if (force) stick = true;
  if (stick) ui.scroller.scrollTop = ui.scroller.scrollHeight;
  updateJump();
}

function updateJump() {
  ui.jump.hidden = stick || nearBottom();
}

ui.scroller.addEventListener("scroll", () => {
  stick = nearBottom();
  updateJump();
}, { passive: true });
ui.jump.addEventListener("click", () => {
  stick = true;
  ui.scroller.scrollTo({ top: ui.scroller.scrollHeight, behavior: "smooth" });
  ui.jump.hidden = true;
});

// --- sending ------------------------------------------------------------

function setBusy(busy) {
  document.documentElement.dataset.busy = busy ? "1" : "0";
  ui.prompt.disabled = busy;
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.stop.disabled = !busy;
  ui.model.disabled = busy;
  ui.newChat.disabled = busy;
  for (const b of ui.conversations.querySelectorAll("button")) b.disabled = busy;
  for (const b of ui.messages.querySelectorAll(".actions button, .retry")) b.disabled = busy;
  showWait();
}

// --- waiting for the server's limit ---------------------------------------

const REFUSED_FOR_NOW = {
  429: ["rate_limited", "budget_exceeded"],
  503: ["overloaded", "state_unavailable"],
};

// "00:00 UTC (01:00 your time)" at UTC midnight (a daily budget renews
// then), else the local time.
function clockText(at) {
  const d = new Date(Math.round(at / 60000) * 60000);
  const local = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (d.getUTCHours() || d.getUTCMinutes()) return local;
  return d.getTimezoneOffset() ? `00:00 UTC (${local} your time)` : "00:00 UTC";
}

function untilText(at, type) {
  const s = Math.ceil((at - Date.now()) / 1000);
  if (s <= 0) return "You can try again now.";
  if (type === "budget_exceeded" || s >= 3600) return `Try again after ${clockText(at)}.`;
  if (s < 120) return `Try again in ${s} s.`;
  return `Try again in ${Math.ceil(s / 60)} min.`;
}

function waiting() {
  return waitUntil > Date.now();
}

function startWait(at, type) {
  if (at <= waitUntil) return;
  waitUntil = at;
  waitType = type;
  tick();
}

// Once a second (on the second the text changes): the countdowns, Send and
// Retry; when the time is up, Send is back and the page says so.
function tick() {
  clearTimeout(waitTimer);
  waitTimer = 0;
  for (const w of ui.messages.querySelectorAll(".retry-when")) {
    w.textContent = untilText(Number(w.dataset.at), w.dataset.type);
  }
  showWait();
  const left = waitUntil - Date.now();
  if (left > 0) {
    waitTimer = setTimeout(tick, (left % 1000 || 1000) + 5);
  } else if (waitUntil) {
    waitUntil = 0;
    if (!active) announce("You can send again.");
  }
}

function showWait() {
  const wait = waiting();
  const why = wait ? "The server asked to wait: " + untilText(waitUntil, waitType) : "";
  ui.send.disabled = !!active || wait;
  ui.send.title = why;
  for (const b of ui.messages.querySelectorAll(".retry")) {
    b.disabled = !!active || wait;
    b.title = why;
  }
  // said next to Send when the refusal itself is not in view
  // (another conversation)
  ui.waiting.hidden = !wait || !!ui.messages.querySelector(".retry-when");
  ui.waiting.textContent = wait ? "Send is paused. " + untilText(waitUntil, waitType) : "";
}

let frame = 0;
let lastSave = 0;
function scheduleRender() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!active?.el) return;
    const content = active.el.querySelector(".content");
    renderContent(active.msg, content);
    if (active.msg.reasoning) {
      let d = active.el.querySelector(".reasoning");
      if (!d) {
        d = el("details", "reasoning");
        d.append(el("summary", null, "Reasoning"), el("div", "reasoning-text"));
        content.before(d);
      }
      d.querySelector(".reasoning-text").textContent = active.msg.reasoning;
    }
    scrollToBottom(false);
    // keep what arrived so far across a reload (at most once a second)
    if (performance.now() - lastSave > 1000) {
      lastSave = performance.now();
      store.save();
    }
  });
}

async function run(conv) {
  const settings = store.settings;
  // Leave room for the instructions and the other fields of the request.
  const budget = server.maxBodyBytes > 0 ?
    Math.floor(server.maxBodyBytes * 0.9) - settings.instructions.length * 2 : 0;
  const { messages, dropped } = historyFor(conv.messages, settings.historySize, budget);
  const model = ui.model.value || undefined;
  const msg = { role: "assistant", content: "", state: "streaming", model: model || server.default || "" };
  if (dropped) { msg.trimmed = dropped; msg.sent = messages.length; }
  conv.messages.push(msg);
  store.touch(conv);
  store.save();

  const body = { messages };
  if (model) body.model = model;
  if (instructionsAllowed() && settings.instructions.trim()) {
    body.instructions = settings.instructions;
  }
  if (settings.temperature !== "") body.temperature = Number(settings.temperature);

  const controller = new AbortController();
  active = { conv, msg, controller, el: null };
  renderConversations();
  renderMessages();
  setBusy(true);
  scrollToBottom(true);
  announce("Waiting for the answer…");

  const result = await streamChat({
    body,
    signal: controller.signal,
    onDelta(kind, text) {
      if (kind === "content") msg.content += text;
      else if (kind === "refusal") msg.refusal = (msg.refusal || "") + text;
      else if (kind === "reasoning") msg.reasoning = (msg.reasoning || "") + text;
      scheduleRender();
    },
    onToolCall(tc) {
      (msg.toolCalls ||= []).push(tc);
    },
  });
  if (frame) { cancelAnimationFrame(frame); frame = 0; }

  if (result.finish) msg.finish = result.finish;
  switch (result.kind) {
    case "done":
      msg.state = "done";
      msg.usage = result.usage;
      announce("Answer complete." + (describeFinish(msg) ? " " + describeFinish(msg) : ""));
      break;
    case "aborted":
      msg.state = "stopped";
      announce("Stopped.");
      break;
    case "dropped":
      msg.state = "dropped";
      announce("The connection was lost.");
      break;
    default:
      msg.state = "error";
      msg.error = result.message;
      msg.errorType = result.type;
      if (result.status) msg.status = result.status;
      if (result.retryAfter !== null && result.retryAfter !== undefined &&
          REFUSED_FOR_NOW[result.status]?.includes(result.type)) {
        msg.retryAt = Date.now() + Math.min(result.retryAfter, 2 * 86400) * 1000;
        startWait(msg.retryAt, result.type);
      }
      announce("Error: " + result.message +
               (msg.retryAt ? " " + untilText(msg.retryAt, msg.errorType) : ""));
  }
  active = null;
  store.touch(conv);
  if (!store.save()) announce("Could not save the conversation (storage full?)");
  renderConversations();
  if (store.current === conv) renderMessages();
  setBusy(false);
  scrollToBottom(false);
  ui.prompt.focus();
}

function send(text) {
  if (active) return;
  const conv = store.current;
  if (editIndex !== null) {
    conv.messages.splice(editIndex);
    cancelEdit();
  }
  conv.messages.push({ role: "user", content: text });
  ui.prompt.value = "";
  autosize();
  run(conv);
}

// Retry / Regenerate: drop the last answer and ask again.
function regenerate() {
  if (active || waiting()) return;
  const conv = store.current;
  const last = conv.messages[conv.messages.length - 1];
  if (last?.role === "assistant") conv.messages.pop();
  if (!conv.messages.length || conv.messages[conv.messages.length - 1].role !== "user") return;
  run(conv);
}

function startEdit(index) {
  if (active) return;
  const m = store.current.messages[index];
  if (!m || m.role !== "user") return;
  editIndex = index;
  ui.prompt.value = m.content;
  ui.editing.hidden = false;
  for (const a of ui.messages.querySelectorAll("article")) {
    a.classList.toggle("being-edited", Number(a.dataset.index) === index);
  }
  autosize();
  ui.prompt.focus();
}

function cancelEdit() {
  editIndex = null;
  ui.editing.hidden = true;
  for (const a of ui.messages.querySelectorAll(".being-edited")) a.classList.remove("being-edited");
}

// --- composer -----------------------------------------------------------

function autosize() {
  ui.prompt.style.height = "auto";
  ui.prompt.style.height = Math.min(ui.prompt.scrollHeight + 2, 240) + "px";
}

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.prompt.value;
  if (!text.trim() || active) return;
  if (waiting()) {
    announce("Send is paused. " + untilText(waitUntil, waitType));
    return;
  }
  send(text);
});
ui.prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.form.requestSubmit();
  } else if (e.key === "Escape" && editIndex !== null) {
    cancelEdit();
  }
});
ui.prompt.addEventListener("input", autosize);
ui.stop.addEventListener("click", () => active?.controller.abort());
ui.cancelEdit.addEventListener("click", () => { cancelEdit(); ui.prompt.value = ""; autosize(); });
ui.newChat.addEventListener("click", newChat);
ui.model.addEventListener("change", () => {
  readSettings();
  showInstructionsField();
});
for (const input of [ui.instructions, ui.temperature, ui.historySize]) {
  input.addEventListener("change", readSettings);
}

// code block copy buttons (delegated: the Markdown renderer makes them)
ui.messages.addEventListener("click", (e) => {
  const b = e.target.closest?.(".copy-code");
  if (!b) return;
  const code = b.closest(".code-block")?.querySelector("pre code");
  if (code) copyText(code.textContent, b);
});

// phone layout: the sidebar is a drawer
function openSidebar() {
  ui.sidebar.classList.add("open");
  ui.scrim.hidden = false;
  ui.openSidebar.setAttribute("aria-expanded", "true");
}
function closeSidebar() {
  ui.sidebar.classList.remove("open");
  ui.scrim.hidden = true;
  ui.openSidebar.setAttribute("aria-expanded", "false");
}
ui.openSidebar.addEventListener("click", openSidebar);
ui.closeSidebar.addEventListener("click", closeSidebar);
ui.scrim.addEventListener("click", closeSidebar);
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  if (ui.sidebar.classList.contains("open")) closeSidebar();
  else if (active) active.controller.abort();     // Escape stops the stream
});

// another tab changed the conversations: pick them up when idle
window.addEventListener("storage", (e) => {
  if (e.key && e.key.startsWith("chatstream.") && !active) {
    const fresh = new Store();
    store.conversations = fresh.conversations;
    if (!store.current) store.currentId = fresh.currentId;
    renderAll();
  }
});

applySettings();
// a refusal from before a reload still holds
for (const c of store.conversations) {
  const m = c.messages?.[c.messages.length - 1];
  if (m?.retryAt > Date.now()) startWait(m.retryAt, m.errorType);
}
renderAll();
loadModels().finally(() => {
  document.documentElement.dataset.ready = "1";
});
