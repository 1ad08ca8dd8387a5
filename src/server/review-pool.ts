import { Worker } from 'node:worker_threads';
import type { Finding } from '../findings/types.js';
import type { Credential } from '../rules/evaluate.js';
import type { ReviewOutcome, ValidateDeps } from '../admission/validate.js';
import type { WantedRefs } from '../workload/links.js';
import type { Mode } from '../settings/settings.js';
import type { AdmissionRequest } from '../admission/review.js';

/**
 * Worker threads for large AdmissionReview bodies, so that no object anyone can apply stalls the
 * event loop that answers /healthz, /readyz and every other review (docs/operations.md "Bounded
 * cost"). Each review runs under a hard time budget counted from the moment its request arrived
 * (receiving the body, waiting for a free or loading worker and the analysis all count; waiting
 * for the main thread's lookups or GitLab does not) and a heap limit; a worker that overruns is
 * terminated, replaced, and the review is answered as the webhook's failurePolicy would. Counting
 * from arrival is what makes the bound hold for the client: a budget started only once a worker
 * was free and loaded let a 3 MB body answer 60-90 ms after its budget ran out.
 */

export interface WorkerInit {
  readSecrets: boolean;
  /** nice value of the worker threads, relative to the process (0: unchanged) */
  nice: number;
}

export interface RequestSummary {
  uid: string;
  kind: string;
  operation: string;
  dryRun: boolean;
  namespace?: string;
  name?: string;
}

/** What the log line and the metrics need of a request, as plain data a worker can post. */
export function summarize(r: AdmissionRequest): RequestSummary {
  return {
    uid: r.uid,
    kind: r.kind.kind,
    operation: r.operation,
    dryRun: r.dryRun,
    ...(r.namespace ? { namespace: r.namespace } : {}),
    ...(r.name ? { name: r.name } : {}),
  };
}

export type ToWorker =
  | {
      type: 'review';
      id: number;
      webhook: 'validate' | 'mutate';
      mode: Mode;
      body: Uint8Array;
      deadline: number;
      deps: { lookups: boolean; verifier: boolean };
    }
  | { type: 'dep'; call: number; result: unknown };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'request'; id: number; request: RequestSummary }
  | { type: 'dep'; id: number; call: number; dep: 'lookups' | 'verifier'; args: unknown }
  /** `heapBytes`: the worker's V8 heap after the review, for recycling (see ReviewPool) */
  | { type: 'done'; id: number; outcome: ReviewOutcome; heapBytes: number }
  | { type: 'bad'; id: number; reason: string }
  | { type: 'error'; id: number; error: string };

/** Why a large review was not checked: the pool's own cuts, and 'values' (src/server/app.ts). */
export const CUT_REASONS = ['time', 'deadline', 'memory', 'crashed', 'values'] as const;
export type CutReason = (typeof CUT_REASONS)[number];

export type PoolResult =
  | { kind: 'done'; outcome: ReviewOutcome; request: RequestSummary }
  | { kind: 'bad'; reason: string }
  | { kind: 'error'; request?: RequestSummary }
  /** over budget: `why` says which; `request` when the body got as far as being parsed
   * ('values' is decided before the pool, src/server/json-values.ts) */
  | {
      kind: 'cut';
      why: CutReason;
      ms: number;
      request?: RequestSummary;
    };

export interface PoolOptions {
  workers: number;
  /** time from a request's arrival to its answer, ms, not counting dependency waits */
  analysisMs: number;
  /** old-generation heap per worker, MiB */
  memoryMb: number;
  /** a worker whose heap is above this after a review is replaced by a new one, MiB */
  recycleMb: number;
  readSecrets: boolean;
  /** see WorkerInit.nice */
  nice: number;
  deps: ValidateDeps;
}

export interface PoolJob {
  webhook: 'validate' | 'mutate';
  mode: Mode;
  body: Buffer;
  /** when the request began to arrive (epoch ms): the budget runs from here */
  arrival: number;
  /** the review deadline (epoch ms): the answer must be sent by then in any case */
  deadline: number;
}

interface Job extends PoolJob {
  id: number;
  done(r: PoolResult): void;
  /** while the job waits for a worker: answers it at its budget if none takes it by then */
  queueTimer?: NodeJS.Timeout;
}

/** One worker thread; `slot` is the review slot it serves. */
interface Handle {
  worker: Worker;
  ready: Promise<void>;
  isReady: boolean;
  slot?: Slot;
  /** resolves when the thread has exited and its isolate's memory is given back */
  exited: Promise<void>;
  /** detach the pool's listeners (the exit promise stays) */
  detach(): void;
}

interface Slot {
  /** undefined while the previous worker is exiting and its replacement not yet started */
  h?: Handle;
  job?: Job;
  request?: RequestSummary;
  started: number;
  /** budget left, and when the running stretch began (undefined while waiting on a dependency) */
  left: number;
  since?: number;
  timer?: NodeJS.Timeout;
  deadlineTimer?: NodeJS.Timeout;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(
  FROM_SOURCE ? './review-worker.ts' : './review-worker.js',
  import.meta.url,
);
// Run from TypeScript sources (the tests), a worker needs the TypeScript loader and nothing else
// of the parent's preloads (a test runner's process-info hooks hang in a worker thread).
const EXEC_ARGV = FROM_SOURCE
  ? process.execArgv.flatMap((a, i, all) =>
      a.startsWith('--import=') && a.includes('typescript')
        ? [a]
        : a === '--import' && all[i + 1]?.includes('typescript')
          ? [a, all[i + 1]!]
          : [],
    )
  : undefined;

export class ReviewPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  // No loaded spare is kept beside the workers: it cost 15-20 MB of RSS, all the time, to save
  // the review that comes right after a cut one the 70-100 ms a worker takes to load (niced, on
  // 2 CPUs); that review's budget counts the wait (it runs from arrival), so it is answered in
  // time either way, and the peak RSS bound (docs/operations.md) had no room for the spare.
  /** workers that died before loading, in a row; at 3 the pool stops starting them */
  private earlyDeaths = 0;
  private ids = 0;
  private hatched = 0;
  private closed = false;

  constructor(private readonly opts: PoolOptions) {}

  /** worker threads started so far: the first ones, and each replacement of a cut or recycled one */
  get started(): number {
    return this.hatched;
  }

  /** Resolves when every worker has loaded the core. */
  async ready(): Promise<void> {
    this.startWorkers();
    await Promise.all(this.slots.map((s) => s.h?.ready));
  }

  private get broken(): boolean {
    return this.earlyDeaths >= 3;
  }

  // Started on the first large body, not at boot: most processes (and most tests) never see one.
  private startWorkers(): void {
    if (this.broken || this.closed) return;
    while (this.slots.length < this.opts.workers) {
      const slot = { started: 0, left: 0 } as Slot;
      this.attach(slot, this.hatch());
      this.slots.push(slot);
    }
  }

  run(job: PoolJob): Promise<PoolResult> {
    return new Promise((done) => {
      if (this.closed) return done({ kind: 'error' });
      this.startWorkers();
      const queued: Job = { ...job, id: ++this.ids, done };
      // A job can wait behind another review or for a worker to start; its budget runs all the
      // same, and it is answered at the budget even if no worker ever takes it.
      queued.queueTimer = setTimeout(
        () => {
          const i = this.queue.indexOf(queued);
          if (i < 0) return;
          this.queue.splice(i, 1);
          done({ kind: 'cut', why: 'time', ms: Math.round(Date.now() - job.arrival) });
        },
        Math.max(0, job.arrival + this.opts.analysisMs - Date.now()),
      );
      this.queue.push(queued);
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) {
      clearTimeout(j.queueTimer);
      j.done({ kind: 'error' });
    }
    const handles = this.slots.flatMap((s) => (s.h ? [s.h] : []));
    for (const s of this.slots) await this.finish(s, { kind: 'error' });
    await Promise.all(
      handles.map((h) => {
        h.detach();
        return h.worker.terminate();
      }),
    );
  }

  private hatch(): Handle {
    this.hatched++;
    const worker = new Worker(WORKER_URL, {
      workerData: {
        readSecrets: this.opts.readSecrets,
        nice: this.opts.nice,
      } satisfies WorkerInit,
      // An 8 MiB young generation: with 16, the peak RSS of the hostile objects was 7-9 MiB higher
      // at the same answers (docs/operations.md "Bounded cost").
      resourceLimits: { maxOldGenerationSizeMb: this.opts.memoryMb, maxYoungGenerationSizeMb: 8 },
      ...(EXEC_ARGV ? { execArgv: EXEC_ARGV } : {}),
      stdout: false,
      stderr: false,
    });
    worker.unref();
    let markReady!: () => void;
    const exited = new Promise<void>((r) => worker.once('exit', () => r()));
    const onMessage = (m: FromWorker): void => {
      if (m.type === 'ready') {
        h.isReady = true;
        this.earlyDeaths = 0;
        markReady();
        this.pump();
        return;
      }
      if (h.slot) void this.onMessage(h.slot, m);
    };
    const died = (why: 'memory' | 'crashed'): void => {
      markReady();
      this.onDeath(h, why);
    };
    const onError = (err: Error & { code?: string }): void =>
      died(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'crashed');
    const onExit = (): void => died('crashed');
    const h: Handle = {
      worker,
      ready: new Promise((r) => (markReady = r)),
      isReady: false,
      exited,
      detach: () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        worker.on('error', () => {});
      },
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    return h;
  }

  private attach(slot: Slot, h: Handle): void {
    slot.h = h;
    h.slot = slot;
  }

  /**
   * Give `slot` a new worker once `old` has exited. Started at once, the new isolate would load
   * and take the next review while the old one still held its heap: two large heaps at a time,
   * which took the peak RSS to 250-300 MiB with back-to-back hostile bodies. Exiting is quick
   * (a few ms; up to ~100 ms when a collection was under way), and the reviews that wait meanwhile
   * are answered at their budget in any case.
   */
  private refill(slot: Slot, old: Handle): void {
    delete slot.h;
    delete old.slot;
    const start = (): void => {
      if (this.closed || this.broken) return;
      this.attach(slot, this.hatch());
      this.pump();
    };
    // a thread that does not exit within a second is not waited for: the pool must not stay
    // without a worker (every large review would then be cut)
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, 1000).unref()));
    void Promise.race([old.exited, late]).then(() => {
      clearTimeout(timer);
      start();
    });
  }

  /** Stop `h` (terminate() stops the isolate even inside a tight loop or JSON.parse) and replace it. */
  private replace(slot: Slot, h: Handle): void {
    h.detach();
    void h.worker.terminate();
    this.refill(slot, h);
  }

  /** A worker died on its own (heap limit, a crash): answer its review, replace it. */
  private onDeath(h: Handle, why: 'memory' | 'crashed'): void {
    h.detach();
    if (!h.isReady) this.earlyDeaths++;
    const slot = h.slot;
    if (this.closed || !slot) return;
    const job = slot.job;
    const ms = Math.round(Date.now() - slot.started);
    const request = slot.request;
    this.refill(slot, h);
    if (job) void this.finish(slot, { kind: 'cut', why, ms, ...(request ? { request } : {}) });
    else if (this.broken) this.pump();
  }

  private pump(): void {
    if (this.broken) {
      // no worker can load: answer as a failed review (500 → the apiserver's failurePolicy)
      for (const j of this.queue.splice(0)) j.done({ kind: 'error' });
      return;
    }
    for (const slot of this.slots) {
      const h = slot.h;
      // Only a loaded worker takes a review. Handed to one still loading, a review whose budget
      // ran out would terminate a worker that had done nothing wrong, and its replacement would
      // start loading from scratch: when a load takes longer than the budget (160-240 ms seen on
      // 2 busy CPUs), every review after a cut one was cut in turn. A waiting review is answered
      // by its queue timer at the budget instead, and the load goes on.
      if (slot.job || !h?.isReady || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      clearTimeout(job.queueTimer);
      const now = Date.now();
      if (now >= job.deadline) {
        job.done({ kind: 'cut', why: 'deadline', ms: 0 });
        continue;
      }
      slot.job = job;
      delete slot.request;
      slot.started = job.arrival;
      // Receiving the body and waiting in the queue or for a worker to load already spent part
      // of it: the apiserver waits for all of that, not only for the analysis.
      slot.left = this.opts.analysisMs - (now - job.arrival);
      delete slot.timer;
      this.resume(slot);
      slot.deadlineTimer = setTimeout(() => this.cut(slot, 'deadline'), job.deadline - now);
      // Handed over, not copied: a body this large has its own ArrayBuffer (Buffer.concat
      // allocates outside the shared pool above 4 KiB); a slice of a shared one is copied.
      const b = job.body;
      const body =
        b.byteOffset === 0 && b.buffer.byteLength === b.length
          ? new Uint8Array(b.buffer)
          : new Uint8Array(b);
      const msg: ToWorker = {
        type: 'review',
        id: job.id,
        webhook: job.webhook,
        mode: job.mode,
        body,
        deadline: job.deadline,
        deps: { lookups: !!this.opts.deps.lookups, verifier: !!this.opts.deps.verifier },
      };
      h.worker.postMessage(msg, [body.buffer as ArrayBuffer]);
    }
  }

  private resume(slot: Slot): void {
    slot.since = Date.now();
    slot.timer = setTimeout(() => this.cut(slot, 'time'), Math.max(0, slot.left));
  }

  private pause(slot: Slot): void {
    if (slot.since !== undefined) slot.left -= Date.now() - slot.since;
    delete slot.since;
    clearTimeout(slot.timer);
  }

  private async onMessage(slot: Slot, m: FromWorker): Promise<void> {
    const job = slot.job;
    if (m.type === 'ready' || !job || m.id !== job.id) return;
    if (m.type === 'request') {
      slot.request = m.request;
      return;
    }
    if (m.type === 'dep') {
      // waiting on the network is not the object's cost; the review deadline still runs
      this.pause(slot);
      const result = await this.callDep(m.dep, m.args);
      if (slot.job !== job || !slot.h) return; // cut meanwhile
      this.resume(slot);
      slot.h.worker.postMessage({ type: 'dep', call: m.call, result } satisfies ToWorker);
      return;
    }
    const request = slot.request;
    if (m.type === 'done') {
      // V8 keeps the pages a large review grew its heap to; only disposing of the isolate gives
      // them back. Replaced before the next review can be handed to it.
      if (m.heapBytes > this.opts.recycleMb * 1024 * 1024 && slot.h) this.replace(slot, slot.h);
      await this.finish(slot, { kind: 'done', outcome: m.outcome, request: request! });
    } else if (m.type === 'bad') await this.finish(slot, { kind: 'bad', reason: m.reason });
    else await this.finish(slot, request ? { kind: 'error', request } : { kind: 'error' });
  }

  private async callDep(dep: 'lookups' | 'verifier', args: unknown): Promise<unknown> {
    const { lookups, verifier } = this.opts.deps;
    try {
      if (dep === 'lookups') {
        const a = args as { want: WantedRefs; namespace: string; deadline: number };
        if (!lookups?.resolveRefs)
          return {
            warnings: ['lookup: not available for large objects with this lookups adapter'],
          };
        return await lookups.resolveRefs(a.want, a.namespace, a.deadline);
      }
      const a = args as { items: Credential[]; opts: { dryRun: boolean; deadline: number } };
      if (!verifier) return { findings: [] as Finding[], warnings: [] };
      return await verifier.verify(a.items, a.opts);
    } catch {
      // the guarded deps never throw; this is the last line
      return dep === 'lookups'
        ? { warnings: ['lookup: failed; decided without it'] }
        : {
            findings: [],
            warnings: ['GitLab verification failed; tokens were not verified online'],
          };
    }
  }

  private async finish(slot: Slot, r: PoolResult): Promise<void> {
    const job = slot.job;
    clearTimeout(slot.timer);
    delete slot.timer;
    clearTimeout(slot.deadlineTimer);
    delete slot.job;
    delete slot.since;
    if (job) job.done(r);
    if (!this.closed) this.pump();
  }

  private cut(slot: Slot, why: 'time' | 'deadline'): void {
    const job = slot.job;
    if (!job) return;
    const ms = Math.round(Date.now() - slot.started);
    const request = slot.request;
    if (slot.h) this.replace(slot, slot.h);
    void this.finish(slot, { kind: 'cut', why, ms, ...(request ? { request } : {}) });
  }
}
