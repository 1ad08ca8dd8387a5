import { parentPort, workerData } from 'node:worker_threads';
import { mutateRequest } from '../admission/mutate.js';
import { parseReview } from '../admission/review.js';
import {
  namespaceOf,
  validateRequest,
  type ReviewOutcome,
  type ValidateDeps,
} from '../admission/validate.js';
import { wantedRefs } from '../workload/links.js';
import type { Mode } from '../settings/settings.js';
import type { FromWorker, ToWorker, WorkerInit } from './review-pool.js';

/**
 * A worker thread of the review pool (src/server/review-pool.ts): parses one large AdmissionReview
 * body and runs the same core the event loop runs for small ones. The main thread can end it at
 * any moment (time or memory budget), so nothing here holds state beyond the current review.
 * Lookups and GitLab verification stay on the main thread, which owns their clients and caches;
 * they are asked for by message with plain data (names, URL + token pairs).
 */

const port = parentPort!;
const init = workerData as WorkerInit;
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
  port.postMessage({
    type: 'request',
    id,
    request: {
      uid: r.uid,
      kind: r.kind.kind,
      operation: r.operation,
      dryRun: r.dryRun,
      ...(r.namespace ? { namespace: r.namespace } : {}),
      ...(r.name ? { name: r.name } : {}),
    },
  } satisfies FromWorker);
  const deps = depsFor(id, msg.deps);
  const mode = msg.mode as Mode;
  const outcome: ReviewOutcome =
    msg.webhook === 'validate'
      ? await validateRequest(r, mode, deps, msg.deadline)
      : await mutateRequest(r, mode, deps, msg.deadline);
  port.postMessage({ type: 'done', id, outcome } satisfies FromWorker);
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
