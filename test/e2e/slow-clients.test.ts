import t from 'tap';
import tls from 'node:tls';
import { URL } from 'node:url';
import { startTestServer } from '../helpers/server.js';

/**
 * Issue 14, slow clients: a body trickled in a byte at a time is cut at the configured request
 * timeout (not at a multiple of Node's 30 s check interval), headers that never finish are cut
 * at the headers timeout, and connections beyond the cap are closed at once. The timeouts are
 * set short here so the test is fast; the defaults (30 s, 10 s, 512) are in docs/operations.md.
 */

const REQUEST_MS = 1500;
const h = await startTestServer({
  GRA_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
  GRA_HEADERS_TIMEOUT_MS: '1000',
  GRA_MAX_CONNECTIONS: '4',
});
t.teardown(() => h.close());
const u = new URL(h.url);

function connect(): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      { host: u.hostname, port: Number(u.port), ca: h.ca, servername: 'localhost' },
      () => resolve(s),
    );
    s.on('error', reject);
  });
}

/** Resolves with what the server sent and how long after `t0` the connection ended. */
function ended(s: tls.TLSSocket, t0: number): Promise<{ ms: number; text: string }> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('error', () => {});
    s.on('close', () => resolve({ ms: performance.now() - t0, text }));
  });
}

t.test('a body at one byte every 200 ms is cut at the request timeout', async (t) => {
  const s = await connect();
  const t0 = performance.now();
  const done = ended(s, t0);
  s.write(
    `POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
  );
  const drip = setInterval(() => {
    if (!s.destroyed) s.write('{');
  }, 200);
  const r = await done;
  clearInterval(drip);
  // 1000 bytes at 5/s would take 200 s; the cut comes at the timeout plus at most one check interval
  t.ok(r.ms >= REQUEST_MS * 0.9, `not before the timeout (${r.ms.toFixed(0)} ms)`);
  t.ok(r.ms < REQUEST_MS * 1.5 + 500, `cut at ${r.ms.toFixed(0)} ms, timeout ${REQUEST_MS} ms`);
  t.match(r.text, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout');
});

t.test('headers that never finish are cut at the headers timeout', async (t) => {
  const s = await connect();
  const t0 = performance.now();
  const done = ended(s, t0);
  s.write('POST /validate HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => {
    if (!s.destroyed) s.write('X');
  }, 100);
  const r = await done;
  clearInterval(drip);
  t.ok(r.ms < 1000 * 1.5 + 500, `cut at ${r.ms.toFixed(0)} ms, headers timeout 1000 ms`);
});

t.test('connections beyond the cap are closed at once; the ones inside keep working', async (t) => {
  const held = await Promise.all([connect(), connect(), connect(), connect()]);
  const extra = await connect().catch(() => undefined);
  if (extra) {
    // the TLS handshake may complete before the server drops it; then it closes unanswered
    const r = await ended(extra, performance.now());
    t.equal(r.text, '', 'the fifth connection is closed without an answer');
  } else t.pass('the fifth connection is refused');
  const s = held[0]!;
  const reply = ended(s, performance.now());
  s.end('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match((await reply).text, /^HTTP\/1\.1 200/, 'a held connection is still served');
  for (const c of held) c.destroy();
});
