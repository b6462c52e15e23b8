// openai_provider.mjs — one chat through the AI SDK's OpenAI provider
// (@ai-sdk/openai: Chat Completions, or with "api":"responses" the
// provider's default model, openai(id), which uses the Responses API)
// against chatstream's /api/v1, for tests/e2e/test_developer_role.py and
// tests/e2e/test_responses_api.py.
//
//   node openai_provider.mjs '{"baseURL":"http://127.0.0.1:PORT/api/v1",
//                              "model":"o4-mini","system":"...","prompt":"...",
//                              "stream":true, "maxOutputTokens":64}'
//
// The provider picks the system message's role by model name, as its users
// get it: "developer" for reasoning models (o-series, gpt-5), "system" for
// the others.  Prints one JSON line: {text, finishReason, thrown}.
const args = JSON.parse(process.argv[2]);
const { generateText, streamText } = await import('ai-latest');
const { createOpenAI } = await import('@ai-sdk/openai');

let text = null;
let finishReason = null;
let thrown = null;
try {
  const openai = createOpenAI({ baseURL: args.baseURL, apiKey: 'not-needed' });
  const model = args.api === 'responses' ? openai(args.model) : openai.chat(args.model);
  const call = { model, system: args.system, prompt: args.prompt, maxRetries: 0 };
  if (args.maxOutputTokens) call.maxOutputTokens = args.maxOutputTokens;
  if (args.stream) {
    const errors = [];
    const r = streamText({ ...call, onError: ({ error }) => errors.push(error) });
    text = await r.text;
    finishReason = await r.finishReason;
    if (errors.length > 0) throw errors[0];
  } else {
    const r = await generateText(call);
    text = r.text;
    finishReason = r.finishReason;
  }
} catch (e) {
  thrown = { name: e?.name ?? typeof e, message: String(e?.message ?? e), status: e?.statusCode ?? null };
}
process.stdout.write(JSON.stringify({ text, finishReason, thrown }) + '\n');
