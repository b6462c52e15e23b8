// responses_client.mjs — drives the real openai npm package's Responses
// API, and LangChain's ChatOpenAI withStructuredOutput, against
// chatstream's /api/v1 for tests/e2e/test_responses_api.py.
// Usage: node responses_client.mjs BASE_URL MODE MODEL PROMPT
// Prints one JSON object: what the client produced, or {"error": ...}
// with the error's class, status, code and message.
import OpenAI from "openai";

const [baseURL, mode, model, prompt] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const tools = [{
  type: "function",
  name: "get_weather",
  description: "Current weather",
  parameters: { type: "object", properties: { city: { type: "string" } } },
}];

function calls(output) {
  return output.filter((o) => o.type === "function_call")
    .map((o) => ({ id: o.call_id, name: o.name, arguments: o.arguments }));
}

// responses.create({stream: true}): the raw events as the SDK yields them.
async function rawStream(opts) {
  const stream = await client.responses.create({
    model, input: prompt, stream: true, ...opts });
  const types = [], seqs = [];
  let text = "", final = null, fnArgs = "";
  for await (const ev of stream) {
    types.push(ev.type);
    seqs.push(ev.sequence_number);
    if (ev.type === "response.output_text.delta") text += ev.delta;
    if (ev.type === "response.function_call_arguments.delta") fnArgs += ev.delta;
    if (ev.type === "response.completed" || ev.type === "response.incomplete")
      final = ev.response;
  }
  return { types, seqs, text, fnArgs, status: final?.status ?? null,
    usage: final?.usage ?? null, calls: final ? calls(final.output) : null,
    incomplete: final?.incomplete_details ?? null, id: final?.id ?? null,
    model: final?.model ?? null };
}

// responses.stream(): the helper's deltas and its finalResponse().
async function helper(opts) {
  const stream = client.responses.stream({ model, input: prompt, ...opts });
  let deltas = "", snapshot = null, argDeltas = 0;
  stream.on("response.output_text.delta", (e) => {
    deltas += e.delta;
    snapshot = e.snapshot;
  });
  stream.on("response.function_call_arguments.delta", () => argDeltas++);
  const r = await stream.finalResponse();
  return { deltas, snapshot, argDeltas, output_text: r.output_text,
    status: r.status, usage: r.usage, calls: calls(r.output),
    types: r.output.map((o) => o.type) };
}

async function langchain(useResponsesApi) {
  const { ChatOpenAI } = await import("@langchain/openai");
  const llm = new ChatOpenAI({ model, apiKey: "unused", maxRetries: 0,
    useResponsesApi, configuration: { baseURL } });
  const schema = {
    title: "weather", description: "The weather in a city",
    type: "object", additionalProperties: false,
    properties: { city: { type: "string" }, temperature_c: { type: "number" } },
    required: ["city", "temperature_c"],
  };
  const structured = llm.withStructuredOutput(schema, { name: "weather",
    method: "jsonSchema", strict: true });
  return { parsed: await structured.invoke(prompt) };
}

const modes = {
  stream: () => rawStream({}),
  stream_tools: () => rawStream({ tools }),
  helper: () => helper({}),
  helper_tools: () => helper({ tools, tool_choice: "auto" }),
  create: async () => {
    const r = await client.responses.create({ model, input: prompt,
      instructions: "Be brief.", max_output_tokens: 100 });
    return { id: r.id, object: r.object, model: r.model, status: r.status,
      output_text: r.output_text, usage: r.usage, calls: calls(r.output),
      request_id: r._request_id ?? null };
  },
  // A tool-result turn: the call the model made, then its output.
  tool_result: async () => {
    const r = await client.responses.create({ model, tools, input: [
      { role: "user", content: prompt },
      { type: "function_call", call_id: "call_abc123", name: "get_weather",
        arguments: "{\"city\":\"Paris\"}" },
      { type: "function_call_output", call_id: "call_abc123",
        output: "{\"temperature_c\":18}" },
    ] });
    return { output_text: r.output_text, status: r.status };
  },
  // Abort after the first delta: how many deltas the loop saw in all.
  abort: async () => {
    const ac = new AbortController();
    const stream = await client.responses.create({ model, input: prompt,
      stream: true }, { signal: ac.signal });
    let deltas = 0, threw = null;
    try {
      for await (const ev of stream) {
        if (ev.type === "response.output_text.delta" && ++deltas === 1)
          ac.abort();
      }
    } catch (e) {
      threw = e.constructor.name;
    }
    return { deltas, aborted: ac.signal.aborted, threw };
  },
  previous: () => client.responses.create({ model, input: prompt,
    previous_response_id: "resp_123" }),
  langchain_chat: () => langchain(false),
  langchain_responses: () => langchain(true),
};

try {
  console.log(JSON.stringify(await modes[mode]()));
} catch (e) {
  console.log(JSON.stringify({ error: { class: e.constructor.name,
    status: e.status ?? null, code: e.code ?? e.error?.code ?? null,
    type: e.type ?? e.error?.type ?? null, message: String(e.message) } }));
}
