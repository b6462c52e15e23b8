// openai_client.mjs — drives the real openai npm package against
// chatstream's /api/v1 for tests/e2e/test_openai_api.py.
// Usage: node openai_client.mjs BASE_URL MODE MODEL PROMPT
// Prints one JSON object: what the SDK produced, or {"error": ...} with
// the SDK's error class and status.  request_id (and error.requestID) is
// what the SDK read from x-request-id.
import OpenAI from "openai";

const [baseURL, mode, model, prompt] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const messages = [{ role: "user", content: prompt }];
const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather",
    parameters: { type: "object", properties: { city: { type: "string" } } },
  },
}];

async function streamText(opts) {
  const stream = await client.chat.completions.create({
    model, messages, stream: true, ...opts });
  let text = "", finish = null, usage = null, chunks = 0, role = null;
  let usageChunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) { usage = chunk.usage; usageChunks++; }
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, usage, usageChunks, chunks, role };
}

const modes = {
  stream: () => streamText({}),
  stream_usage: () => streamText({ stream_options: { include_usage: true } }),
  create: async () => {
    const r = await client.chat.completions.create({
      model, messages, max_completion_tokens: 100 });
    return { id: r.id, object: r.object, model: r.model,
      text: r.choices[0].message.content, finish: r.choices[0].finish_reason,
      tool_calls: r.choices[0].message.tool_calls ?? null, usage: r.usage,
      request_id: r._request_id ?? null };
  },
  // A stream's request id comes with the response, before any chunk.
  stream_request_id: async () => {
    const { data, request_id } = await client.chat.completions.create({
      model, messages, stream: true }).withResponse();
    let text = "";
    for await (const chunk of data)
      for (const c of chunk.choices) text += c.delta.content ?? "";
    return { text, request_id };
  },
  // models.retrieve: MODEL is the id, passed as the SDK gets it (the SDK
  // %-encodes it into the path).
  retrieve: async () => {
    const m = await client.models.retrieve(model);
    return { model: { ...m }, request_id: m._request_id ?? null };
  },
  tools_stream: async () => {
    const runner = client.chat.completions.stream({ model, messages, tools });
    const final = await runner.finalChatCompletion();
    const msg = await runner.finalMessage();
    return { finish: final.choices[0].finish_reason,
      text: msg.content ?? "", tool_calls: msg.tool_calls ?? [] };
  },
  tools_create: async () => {
    const r = await client.chat.completions.create({ model, messages, tools });
    return { finish: r.choices[0].finish_reason,
      text: r.choices[0].message.content ?? "",
      tool_calls: r.choices[0].message.tool_calls ?? [] };
  },
  models: async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    return { ids };
  },
};

try {
  console.log(JSON.stringify(await modes[mode]()));
} catch (e) {
  console.log(JSON.stringify({ error: {
    class: e.constructor.name, status: e.status ?? null,
    isAPIError: e instanceof OpenAI.APIError, message: String(e.message),
    code: e.code ?? null, type: e.type ?? null,
    param: e.param === undefined ? "absent" : e.param,
    requestID: e.requestID ?? null } }));
}
