import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReviewOutcome, ValidateDeps } from '../admission/validate.js';
import type { Mode } from '../settings/settings.js';
import { summarize, type FromWorker, type ToWorker, type WorkerInit } from './review-pool.js';

/**
 * A worker thread of the review pool (src/server/review-pool.ts): parses one large AdmissionReview
 * body and runs the same core the event loop runs for small ones. The main thread can end it at
 * any moment (time or memory budget), so nothing here holds state beyond the current review.
 * Lookups and GitLab verification stay on the main thread, which owns their clients and caches;
 * they are asked for by message with plain data (names, URL + token pairs).
 */

const port = parentPort!;
const init = workerData as WorkerInit;

/**
 * Lower this thread's CPU priority below the event loop's before loading the core. A large review
 * may use all of its budget, and on a replica with as many busy threads as CPUs the kernel would
 * otherwise share the CPU evenly: /healthz and small reviews waited 50-110 ms behind a 3 MB copy
 * storm on 2 CPUs. Linux applies setpriority(PRIO_PROCESS) to one thread when given its thread id
 * (setpriority(2), "BUGS": the nice value is a per-thread attribute), which /proc/thread-self
 * names. Raising one's own nice value needs no privilege; where it fails (not Linux, a seccomp
 * profile), the worker runs at the process's priority, as before.
 */
function lowerPriority(nice: number): void {
  if (nice <= 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // best effort, see above
  }
}
lowerPriority(init.nice);

// loaded after the priority change: loading the core is most of a new worker's CPU
const [{ mutateRequest }, { parseReview }, { namespaceOf, validateRequest }, { wantedRefs }] =
  await Promise.all([
    import('../admission/mutate.js'),
    import('../admission/review.js'),
    import('../admission/validate.js'),
    import('../workload/links.js'),
  ]);
const pending = new Map<number, (r: unknown) => void>();
let calls = 0;

function ask(id: number, dep: 'lookups' | 'verifier', args: unknown): Promise<unknown> {
  const call = ++calls;
  return new Promise((resolve) => {
    pending.set(call, resolve);
    port.postMessage({ type: 'dep', id, call, dep, args } satisfies FromWorker);
  });
}

function depsFor(id: number, has: { lookups: boolean; verifier: boolean }): ValidateDeps {
  const deps: ValidateDeps = {};
  if (has.lookups) {
    deps.lookups = {
      resolve: async (obj, namespace, deadline) => {
        const want = wantedRefs(obj, init.readSecrets);
        if (want.configMaps.length === 0 && want.secrets.length === 0) return { warnings: [] };
        return (await ask(id, 'lookups', {
          want,
          namespace: namespaceOf(obj, namespace),
          deadline,
        })) as Awaited<ReturnType<NonNullable<ValidateDeps['lookups']>['resolve']>>;
      },
    };
  }
  if (has.verifier) {
    deps.verifier = {
      verify: async (items, opts) =>
        (await ask(id, 'verifier', { items, opts })) as Awaited<
          ReturnType<NonNullable<ValidateDeps['verifier']>['verify']>
        >,
    };
  }
  return deps;
}

async function review(msg: Extract<ToWorker, { type: 'review' }>): Promise<void> {
  const { id } = msg;
  let body: unknown;
  try {
    let text = Buffer.from(msg.body.buffer, msg.body.byteOffset, msg.body.byteLength).toString(
      'utf8',
    );
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    body = JSON.parse(text);
  } catch {
    port.postMessage({ type: 'bad', id, reason: 'body is not valid JSON' } satisfies FromWorker);
    return;
  }
  const parsed = parseReview(body);
  if (!parsed.ok) {
    port.postMessage({ type: 'bad', id, reason: parsed.reason } satisfies FromWorker);
    return;
  }
  const r = parsed.request;
  port.postMessage({ type: 'request', id, request: summarize(r) } satisfies FromWorker);
  const deps = depsFor(id, msg.deps);
  const mode = msg.mode as Mode;
  const outcome: ReviewOutcome =
    msg.webhook === 'validate'
      ? await validateRequest(r, mode, deps, msg.deadline)
      : await mutateRequest(r, mode, deps, msg.deadline);
  port.postMessage({
    type: 'done',
    id,
    outcome,
    heapBytes: getHeapStatistics().total_heap_size,
  } satisfies FromWorker);
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'dep') {
    const resolve = pending.get(msg.call);
    pending.delete(msg.call);
    resolve?.(msg.result);
    return;
  }
  review(msg).catch((err: unknown) => {
    port.postMessage({
      type: 'error',
      id: msg.id,
      error: err instanceof Error ? err.name : typeof err,
    } satisfies FromWorker);
  });
});
port.postMessage({ type: 'ready' } satisfies FromWorker);
