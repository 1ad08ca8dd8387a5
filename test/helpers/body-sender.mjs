/**
 * The hostile test's load generator in a process of its own: it plays the apiserver sending a
 * large AdmissionReview. In the test process it delayed the probes it is measured against: the
 * event loop that timed /healthz also TLS-encrypted 3 MB bodies and collected the garbage of
 * building them (probes 10-58 ms; from this process, 3-26 ms, same VM). Niced, it was worse: its
 * own upload then waited behind the webhook's worker and the reviews took up to 740 ms.
 *
 * argv: url, CA file, TLS server name. stdin, one command a line: `hostile <i>` or `padded <bytes>`.
 * stdout, one JSON line an answer: { status, ms, json }.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import readline from 'node:readline';
import { HOSTILE, padded } from './hostile.mjs';

const [url, caFile, servername] = process.argv.slice(2);
const agent = new https.Agent({ keepAlive: true, ca: readFileSync(caFile), servername });
const bodies = HOSTILE.map((h) => Buffer.from(JSON.stringify(h.make())));

function send(body) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = https.request(
      `${url}/validate`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const ms = performance.now() - t0;
          let json;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, ms, json });
        });
      },
    );
    req.on('error', (err) =>
      resolve({ status: 0, ms: performance.now() - t0, error: err.message }),
    );
    req.end(body);
  });
}

// the garbage of building the bodies is collected before anything is timed
globalThis.gc?.();
process.stdout.write(JSON.stringify({ ready: bodies.length }) + '\n');
for await (const line of readline.createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/);
  const body =
    cmd === 'hostile' ? bodies[Number(arg)] : Buffer.from(JSON.stringify(padded(Number(arg))));
  process.stdout.write(JSON.stringify(await send(body)) + '\n');
}
agent.destroy();
