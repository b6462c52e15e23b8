// Minimal chatstream client: POST the message, read the SSE stream with
// fetch(), buffer partial lines across chunks, append each text delta.
const $ = (id) => document.getElementById(id);
let controller = null;

function parseEvents(buffer, onEvent) {
  // Events end at a blank line; keep the unfinished tail for the next chunk.
  const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let event = "message", data = [];
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) onEvent(event, data.join("\n"));
  }
  return rest;
}

async function send(text) {
  const answer = $("answer"), status = $("status");
  answer.textContent = "";
  status.textContent = "Waiting for the model…";
  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  try {
    const res = await fetch("api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: text }] }),
      signal: controller.signal,
    });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", finished = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      buffer = parseEvents(buffer, (event, data) => {
        if (data === "[DONE]") { finished = true; return; }
        const obj = JSON.parse(data);
        if (event === "finish") {
          status.textContent = `Finished: ${obj.finish_reason}` +
            (obj.usage ? `, ${obj.usage.completion_tokens} tokens` : "");
        } else if (event === "error") {
          status.textContent = `Error: ${obj.error.message}`;
        } else if (typeof obj.content === "string") {
          answer.textContent += obj.content;
          status.textContent = "Streaming…";
        }
      });
    }
    if (!finished) status.textContent = "The connection was lost.";
  } catch (err) {
    status.textContent = err.name === "AbortError" ? "Stopped." :
      `Error: ${err.message}`;
  } finally {
    controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
  }
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  send($("prompt").value);
});
$("stop").addEventListener("click", () => controller?.abort());
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("form").requestSubmit();
  }
});
