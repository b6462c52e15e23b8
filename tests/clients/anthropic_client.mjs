// anthropic_client.mjs — drives the real @anthropic-ai/sdk against
// chatstream's /api/v1/messages for tests/e2e/test_anthropic_api.py.
// Usage: node anthropic_client.mjs BASE_URL MODE MODEL PROMPT [API_KEY]
// (BASE_URL is what the SDK's baseURL gets: the SDK adds /v1/messages.)
// Prints one JSON object: what the SDK produced, or {"error": ...} with
// the SDK's error class, status and Anthropic error type.
import Anthropic from "@anthropic-ai/sdk";

const [baseURL, mode, model, prompt, apiKey] = process.argv.slice(2);
const client = new Anthropic({ baseURL, apiKey: apiKey || "unused",
  maxRetries: 0 });
const messages = [{ role: "user", content: prompt }];
const tools = [{
  name: "get_weather",
  description: "Current weather",
  input_schema: { type: "object", properties: { location: { type: "string" } } },
}];

// What a Message says, for the test to compare.
function summary(m) {
  return { id: m.id, type: m.type, role: m.role, model: m.model,
    content: m.content, stop_reason: m.stop_reason,
    stop_sequence: m.stop_sequence, usage: m.usage };
}

function textOf(m) {
  return m.content.filter((b) => b.type === "text").map((b) => b.text).join("");
}

// The tool round trip: the model's tool_use, then its result sent back
// (the second request is what the test reads upstream).
async function toolTurns(first) {
  const m = await first();
  const use = m.content.find((b) => b.type === "tool_use");
  if (!use) return { first: summary(m), second: null };
  const second = await client.messages.create({ model, max_tokens: 200,
    tools, messages: [...messages, { role: "assistant", content: m.content },
      { role: "user", content: [
        { type: "tool_result", tool_use_id: use.id, content: "18C, sunny" },
        { type: "text", text: "thanks" }] }] });
  return { first: summary(m), second: summary(second) };
}

const modes = {
  // messages.stream(): the text events, the accumulated final message.
  stream: async () => {
    const stream = client.messages.stream({ model, max_tokens: 200, messages });
    let text = "", textEvents = 0;
    stream.on("text", (t) => { text += t; textEvents++; });
    const final = await stream.finalMessage();
    return { text, textEvents, final: summary(final), finalText: textOf(final) };
  },
  create: async () => {
    const m = await client.messages.create({ model, max_tokens: 200, messages,
      system: [{ type: "text", text: "Be brief.",
        cache_control: { type: "ephemeral" } }],
      temperature: 0.5, metadata: { user_id: "u1" } });
    return { ...summary(m), text: textOf(m), request_id: m._request_id ?? null };
  },
  // messages.create({stream: true}): the raw events as the SDK parsed them.
  raw: async () => {
    const stream = await client.messages.create({ model, max_tokens: 200,
      messages, stream: true });
    const types = [];
    let text = "", stop = null, usage = null;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === "content_block_delta" && ev.delta.type === "text_delta")
        text += ev.delta.text;
      if (ev.type === "message_delta") { stop = ev.delta.stop_reason; usage = ev.usage; }
    }
    return { types, text, stop_reason: stop, usage };
  },
  tools_stream: () => toolTurns(() => client.messages.stream({ model,
    max_tokens: 200, tools, messages }).finalMessage()),
  tools_create: () => toolTurns(() => client.messages.create({ model,
    max_tokens: 200, tools, tool_choice: { type: "auto" }, messages })),
  stop: async () => {
    const m = await client.messages.create({ model, max_tokens: 200, messages,
      stop_sequences: ["END", "\n\nHuman:"] });
    return { ...summary(m), text: textOf(m) };
  },
  // The client leaves after the first text: the SDK's abort.
  abort: async () => {
    const stream = client.messages.stream({ model, max_tokens: 200, messages });
    let text = "";
    stream.on("text", (t) => { text += t; stream.abort(); });
    let aborted = false;
    try { await stream.done(); } catch (e) {
      aborted = e instanceof Anthropic.APIUserAbortError;
    }
    return { text, aborted };
  },
};

try {
  console.log(JSON.stringify(await modes[mode]()));
} catch (e) {
  console.log(JSON.stringify({ error: {
    class: e.constructor.name, status: e.status ?? null,
    isAPIError: e instanceof Anthropic.APIError, message: String(e.message),
    type: e.type ?? null, body: e.error ?? null,
    requestID: e.requestID ?? null } }));
}
