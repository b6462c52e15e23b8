// node-proxy.mjs — the Node.js peer of `make bench`: a chat proxy written
// the way typical gateways are (node:http server, global fetch() to the
// provider with stream:true, parse the SSE, re-emit each delta as
// `data: {"content":"..."}\n\n`).  Standard library only; Node >= 18.
//
//   node bench/peers/node-proxy.mjs --port 0 --upstream http://127.0.0.1:PORT/v1
//
// Prints "listening on 127.0.0.1:PORT" once it accepts connections.
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '0'));
const upstream = opt('--upstream', 'http://127.0.0.1:8000/v1').replace(/\/+$/, '');
const apiKey = process.env.OPENAI_API_KEY || 'none';

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

async function chat(req, res) {
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    res.writeHead(400, { 'Content-Type': 'application/json' });
    res.end('{"error":{"type":"invalid_request","message":"bad JSON"}}');
    return;
  }
  const ac = new AbortController();
  res.on('close', () => ac.abort());
  let up;
  try {
    up = await fetch(upstream + '/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + apiKey },
      body: JSON.stringify({ model: body.model, messages: body.messages, stream: true }),
      signal: ac.signal,
    });
  } catch (e) {
    res.writeHead(502, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { type: 'upstream', message: String(e) } }));
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of up.body) {
      buf += decoder.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') continue;
        let j;
        try {
          j = JSON.parse(data);
        } catch {
          continue;
        }
        const content = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
        if (content) res.write('data: ' + JSON.stringify({ content }) + '\n\n');
      }
    }
    res.write('event: finish\ndata: {"finish_reason":"stop"}\n\n');
  } catch (e) {
    if (!ac.signal.aborted) res.write('event: error\ndata: ' + JSON.stringify({ message: String(e) }) + '\n\n');
  }
  res.end();
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.split('?')[0] === '/api/chat') {
    chat(req, res).catch(() => res.destroy());
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.keepAliveTimeout = 15000;
server.requestTimeout = 0;      // long streams: no per-request deadline
server.listen(port, '127.0.0.1', () => {
  console.log('listening on 127.0.0.1:' + server.address().port);
});
process.on('SIGTERM', () => process.exit(0));
