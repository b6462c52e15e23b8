// store.js — conversations and settings in localStorage.
//
// A conversation: {id, title, created, updated, messages: [message]}.
// A message: {role: "user" | "assistant", content, ...display fields}
// (assistant: state "done" | "stopped" | "error" | "dropped", error,
// finish, usage, model, trimmed, retryAt: the Date.now() the server's
// Retry-After said to wait until).  Everything is plain JSON; storage that
// is full or unavailable (private mode) only loses persistence.

const KEY = "chatstream.v1";
const SETTINGS_KEY = "chatstream.settings.v1";

export const DEFAULT_SETTINGS = {
  model: "",           // "" = the server's default
  instructions: "",
  temperature: "",     // "" = the provider's default
  historySize: 20,     // messages sent at most (the newest)
};

function read(key) {
  try {
    const s = localStorage.getItem(key);
    return s ? JSON.parse(s) : null;
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

const newId = () =>
  Date.now().toString(36) + Math.random().toString(36).slice(2, 8);

export class Store {
  constructor() {
    const data = read(KEY);
    this.conversations = Array.isArray(data?.conversations) ? data.conversations : [];
    this.currentId = data?.currentId ?? null;
    // a stream cannot survive a reload: whatever was streaming is stopped
    for (const c of this.conversations) {
      for (const m of c.messages ?? []) {
        if (m.state === "streaming") {
          m.state = "stopped";
          m.note = "interrupted by a reload";
        }
      }
    }
    if (!this.current) {
      this.currentId = this.conversations[0]?.id ?? this.create().id;
    }
    this.settings = { ...DEFAULT_SETTINGS, ...(read(SETTINGS_KEY) ?? {}) };
  }

  get current() {
    return this.conversations.find((c) => c.id === this.currentId) ?? null;
  }

  create() {
    const c = { id: newId(), title: "", created: Date.now(), updated: Date.now(),
                messages: [] };
    this.conversations.unshift(c);
    this.currentId = c.id;
    this.save();
    return c;
  }

  select(id) {
    if (this.conversations.some((c) => c.id === id)) {
      this.currentId = id;
      this.save();
    }
  }

  rename(id, title) {
    const c = this.conversations.find((x) => x.id === id);
    if (c) {
      c.title = String(title).trim().slice(0, 200);
      this.save();
    }
  }

  remove(id) {
    this.conversations = this.conversations.filter((c) => c.id !== id);
    if (this.currentId === id) {
      this.currentId = this.conversations[0]?.id ?? null;
      if (!this.currentId) this.create();
    }
    this.save();
  }

  touch(c) {
    c.updated = Date.now();
    if (!c.title) {
      const first = c.messages.find((m) => m.role === "user");
      if (first) c.title = first.content.replace(/\s+/g, " ").trim().slice(0, 60);
    }
  }

  save() {
    return write(KEY, { conversations: this.conversations, currentId: this.currentId });
  }

  saveSettings() {
    return write(SETTINGS_KEY, this.settings);
  }
}

// The messages to send: the conversation's user/assistant messages with
// text (failed or empty answers left out), at most `limit` of the newest,
// starting with a user message.  Returns {messages, dropped}.
// A question the server refused outright (HTTP 4xx other than 429, e.g. a
// message over max_message_bytes) is left out too, or every later request
// of the conversation would be refused the same way.
export function historyFor(messages, limit, maxBytes = 0) {
  const refused = (m) => m?.role === "assistant" && m.state === "error" &&
    m.status >= 400 && m.status < 500 && m.status !== 429;
  const usable = messages.filter((m, i) =>
    (m.role === "user" || m.role === "assistant") &&
    typeof m.content === "string" && m.content.trim() !== "" &&
    !(m.role === "user" && refused(messages[i + 1])));
  const n = Math.max(1, Math.floor(Number(limit) || DEFAULT_SETTINGS.historySize));
  let start = Math.max(0, usable.length - n);
  // Within the server's body limit too (bytes of JSON, as sent); the last
  // message always goes, so the server can say if that alone is too big.
  if (maxBytes > 0) {
    const size = (m) => new TextEncoder().encode(JSON.stringify(m.content)).length + 32;
    let total = usable.slice(start).reduce((a, m) => a + size(m), 0);
    while (start < usable.length - 1 && total > maxBytes) total -= size(usable[start++]);
  }
  while (start < usable.length - 1 && usable[start].role !== "user") start++;
  return {
    messages: usable.slice(start).map((m) => ({ role: m.role, content: m.content })),
    dropped: start,
  };
}
