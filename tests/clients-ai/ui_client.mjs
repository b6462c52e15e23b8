// ui_client.mjs — one useChat request through the AI SDK's own client code,
// for tests/e2e/test_ai_sdk.py.
//
//   node ui_client.mjs '{"pkg":"ai-5.0.0","api":"http://127.0.0.1:PORT/api/chat",
//                        "chatId":"c1","trigger":"submit-message",
//                        "messageId":null,"messages":[UIMessage...],"body":{...}}'
//
// DefaultChatTransport.sendMessages POSTs exactly what useChat POSTs;
// readUIMessageStream builds the assistant UIMessage the way useChat does.
// Every error is collected through onError (a chunk that fails the SDK's
// schema ends the stream with an AI_TypeValidationError), so the caller
// sees them all.  Prints one JSON line: {message, errors:[{name,message}],
// thrown}.
const args = JSON.parse(process.argv[2]);
const { DefaultChatTransport, readUIMessageStream } = await import(args.pkg);

const errors = [];
const note = (e) => errors.push({ name: e?.name ?? typeof e, message: String(e?.message ?? e) });
let message = null;
let thrown = null;
try {
  const transport = new DefaultChatTransport({ api: args.api, body: args.body });
  const stream = await transport.sendMessages({
    chatId: args.chatId,
    trigger: args.trigger,
    messageId: args.messageId ?? undefined,
    messages: args.messages,
    abortSignal: undefined,
  });
  for await (const m of readUIMessageStream({ stream, onError: note }))
    message = m;
} catch (e) {
  thrown = { name: e?.name ?? typeof e, message: String(e?.message ?? e), status: e?.statusCode ?? null };
}
process.stdout.write(JSON.stringify({ message, errors, thrown }) + '\n');
