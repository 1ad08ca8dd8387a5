import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { readJson, fixturesDir } from '../helpers/fixtures.js';
import path from 'node:path';
import { ReviewPool, type PoolJob } from '../../src/server/review-pool.js';

/**
 * The review pool's own contract (src/server/review-pool.ts), from the TypeScript sources: the
 * budget runs from the request's arrival, a worker that grew past the recycle size is replaced,
 * and worker threads run below the event loop's CPU priority.
 */

t.setTimeout(120_000);
const body = Buffer.from(
  JSON.stringify(
    readJson(path.join(fixturesDir, 'admission/configmap-create-registration-token.json')),
  ),
);
const job = (over: Partial<PoolJob> = {}): PoolJob => ({
  webhook: 'validate',
  mode: 'enforce',
  body: Buffer.from(body),
  arrival: Date.now(),
  deadline: Date.now() + 60_000,
  ...over,
});

function pool(over: { analysisMs?: number; recycleMb?: number; nice?: number } = {}) {
  const p = new ReviewPool({
    workers: 1,
    // generous: under the test's TypeScript loader a worker compiles the core when it starts
    analysisMs: 60_000,
    memoryMb: 64,
    recycleMb: 1024,
    readSecrets: false,
    nice: 10,
    deps: {},
    ...over,
  });
  t.teardown(() => p.close());
  return p;
}

t.test('the budget runs from arrival: a request that waited past it is not analysed', async (t) => {
  const p = pool({ analysisMs: 200 });
  await p.ready();
  const r = await p.run(job({ arrival: Date.now() - 250 }));
  t.equal(r.kind, 'cut');
  if (r.kind === 'cut') {
    t.equal(r.why, 'time');
    t.ok(r.ms >= 250, `${r.ms} ms counted from arrival`);
  }
  // the same request, arrived now, is checked
  const ok = await pool().run(job());
  t.equal(ok.kind, 'done');
});

t.test('a review waiting for a worker is answered at its budget all the same', async (t) => {
  // a fresh pool: its worker is still loading (under the TypeScript loader, for seconds), so the
  // first review waits on the loading worker and the second in the queue behind it
  const p = pool({ analysisMs: 300 });
  const t0 = Date.now();
  const [a, b] = await Promise.all([p.run(job()), p.run(job())]);
  const took = Date.now() - t0;
  t.equal(a.kind, 'cut');
  t.equal(b.kind, 'cut');
  if (a.kind === 'cut' && b.kind === 'cut') t.same([a.why, b.why], ['time', 'time']);
  t.ok(took < 1500, `both answered after ${took} ms, at their budget, not when a worker was free`);
  // the worker was not to blame: it goes on loading and takes the next review
  t.equal(p.started, 1, 'the loading worker was not terminated for the reviews that waited');
  await p.ready();
  t.equal((await p.run(job())).kind, 'done');
  t.equal(p.started, 1);
});

t.test('a worker whose heap passed the recycle size is replaced after its review', async (t) => {
  const kept = pool();
  await kept.ready();
  const first = kept.started;
  t.equal((await kept.run(job())).kind, 'done');
  t.equal(kept.started, first, 'below the size: the same worker serves the next review');

  const p = pool({ recycleMb: 0 });
  await p.ready();
  const before = p.started;
  const r = await p.run(job());
  t.equal(r.kind, 'done', 'the review itself is answered');
  // the replacement starts once the old thread has exited, and takes the next review
  t.equal((await p.run(job())).kind, 'done', 'the replacement serves the next one');
  // (the second review's own replacement may still be waiting for that review's thread to exit)
  t.ok(p.started >= before + 1, 'the first review above the size got its worker replaced');
});

const linux = process.platform === 'linux';
t.test('worker threads run niced', { skip: !linux && 'per-thread nice is Linux' }, async (t) => {
  const niceOf = () =>
    readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // field 19 (nice), counted after the parenthesised command name
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
  const before = niceOf().filter((n) => n === 7).length;
  const self = readFileSync('/proc/self/stat', 'utf8');
  const mainNice = Number(self.slice(self.lastIndexOf(')') + 2).split(' ')[16]);
  const p = pool({ nice: 7 });
  await p.ready();
  t.equal(niceOf().filter((n) => n === 7).length, before + 1, 'one more thread at nice 7');
  const main = readFileSync('/proc/self/stat', 'utf8');
  t.equal(
    Number(main.slice(main.lastIndexOf(')') + 2).split(' ')[16]),
    mainNice,
    'the main thread keeps its priority',
  );
});
