import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { mutateRequest } from '../admission/mutate.js';
import { allow, deny, parseReview, reviewResponse } from '../admission/review.js';
import { validateRequest, type ReviewOutcome, type ValidateDeps } from '../admission/validate.js';
import { isMode, type Mode, type Settings } from '../settings/settings.js';
import { guardDeps, type Dependency } from './budget.js';
import { parseTimeout, reviewDeadline } from './timeout.js';
import { exceedsJsonValues } from './json-values.js';
import {
  ReviewPool,
  summarize,
  type CutReason,
  type PoolResult,
  type RequestSummary,
} from './review-pool.js';
import { redactSecrets } from '../tokens/redact.js';

/**
 * The HTTPS adapter: fastify routes → the pure admission core. Nothing here decides a verdict.
 * See docs/architecture.md for the path of one AdmissionReview.
 */

export interface TlsMaterial {
  key: string;
  cert: string;
}

export interface ServerCerts {
  current(): TlsMaterial;
  onUpdate?(cb: (m: TlsMaterial) => void): void;
  ready(): boolean;
}

export type Webhook = 'validate' | 'mutate';

/** Hooks for metrics/observability; the server calls them, never the other way round. */
export interface ServerObserver {
  review?(
    webhook: Webhook,
    outcome: ReviewOutcome,
    seconds: number,
    kind: string,
    operation: string,
  ): void;
  badRequest?(webhook: Webhook, reason: string): void;
  /** a dependency did not answer within the review budget and the review went on without it */
  budgetExceeded?(dep: Dependency): void;
  /** a review was cut at its analysis budget and answered as the failurePolicy would */
  reviewCut?(webhook: Webhook, why: string): void;
}

export interface AppOptions {
  settings: Settings;
  logger: Logger;
  certs: ServerCerts;
  deps?: ValidateDeps;
  observer?: ServerObserver;
}

export interface App {
  fastify: FastifyInstance<
    HttpsServer,
    import('node:http').IncomingMessage,
    import('node:http').ServerResponse,
    Logger
  >;
  /** set while draining on SIGTERM: /readyz answers 503, reviews are still answered */
  setDraining(d: boolean): void;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').slice(0, 300);
}

/** A body above the inline size: parsed and checked on a worker thread, never on the event loop. */
class LargeBody {
  constructor(readonly bytes: Buffer) {}
}

// The apiserver writes `request.uid` first (k8s.io/api/admission/v1 AdmissionRequest field
// order), so a review cut before its body was parsed can still be answered for its uid.
const UID_AT_START = /"request"\s*:\s*\{\s*"uid"\s*:\s*"([A-Za-z0-9-]{1,128})"/;

function uidFromBytes(b: Buffer): string | undefined {
  return UID_AT_START.exec(b.subarray(0, 512).toString('latin1'))?.[1];
}

const WHY: Record<CutReason, string> = {
  time: 'it could not be checked within the per-review time budget',
  deadline: 'it could not be checked before the review deadline',
  memory: 'its analysis ran over the memory budget',
  crashed: 'the worker checking it failed',
  values:
    'it holds more JSON values than any runner config or workload needs (GRA_MAX_JSON_VALUES)',
};

export function buildApp(opts: AppOptions): App {
  const { settings, logger, certs } = opts;
  const observer = opts.observer ?? {};
  const deps = guardDeps(opts.deps ?? {}, {
    log: logger,
    onExceeded: (d) => observer.budgetExceeded?.(d),
  });
  let draining = false;

  const tls = certs.current();
  const fastify = Fastify({
    loggerInstance: logger,
    // One line per review is logged by the handler below; fastify's per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    https: {
      key: tls.key,
      cert: tls.cert,
      minVersion: 'TLSv1.2',
      headersTimeout: Math.min(
        settings.connections.headersTimeoutMs,
        settings.connections.requestTimeoutMs,
      ),
      // Node checks requestTimeout/headersTimeout on this interval (default 30 s, so a 30 s
      // requestTimeout fired only at 60 s or later); a tenth of the timeout keeps the overshoot small.
      connectionsCheckingInterval: Math.max(
        50,
        Math.floor(settings.connections.requestTimeoutMs / 10),
      ),
    } as import('node:https').ServerOptions,
    http2: false,
    bodyLimit: settings.bodyLimit,
    // Slow clients (docs/operations.md "Slow clients"): the apiserver never needs more than its
    // own 30 s. headersTimeout (above) bounds the headers, requestTimeout the whole request
    // however slowly it trickles in, keepAliveTimeout an idle keep-alive connection.
    keepAliveTimeout: settings.connections.idleTimeoutMs,
    requestTimeout: settings.connections.requestTimeoutMs,
    // `__proto__` is a legal ConfigMap data key; JSON.parse makes it an own property, which is
    // what we want to inspect. Stripping it ('remove') would hide a config from the rules.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    return503OnClosing: false,
  });

  // beyond this many open connections new ones are closed at once (the apiserver keeps a few)
  fastify.server.maxConnections = settings.connections.max;

  const pool = new ReviewPool({
    workers: settings.analysis.workers,
    analysisMs: settings.analysis.analysisMs,
    memoryMb: settings.analysis.workerMemoryMb,
    nice: settings.analysis.workerNice,
    // a review that grew a worker's heap past half its limit leaves it that large for good
    recycleMb: settings.analysis.workerMemoryMb / 2,
    readSecrets: settings.kube.readSecrets,
    deps,
  });
  fastify.addHook('onClose', async () => pool.close());

  // The apiserver always sends application/json; anything else is not an AdmissionReview (415).
  fastify.removeContentTypeParser('text/plain');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    (_req, body: Buffer, done) => {
      // Large bodies are not parsed here: JSON.parse of a 3 MiB array alone holds the event loop
      // for hundreds of milliseconds. The worker parses them under the analysis budget.
      if (body.length > settings.analysis.inlineBytes) return done(null, new LargeBody(body));
      try {
        let text = body.toString('utf8');
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        // plain JSON.parse keeps `__proto__` as an own key (see onProtoPoisoning above)
        done(null, JSON.parse(text));
      } catch {
        done(Object.assign(new Error('body is not valid JSON'), { statusCode: 400 }), undefined);
      }
    },
  );

  if (certs.onUpdate) {
    certs.onUpdate((m) => {
      // New handshakes get the new cert; open connections keep theirs (no drop).
      fastify.server.setSecureContext({
        key: m.key,
        cert: m.cert,
        minVersion: 'TLSv1.2',
      } as Parameters<typeof fastify.server.setSecureContext>[0]);
      logger.info({ event: 'tls-reload' }, 'serving certificate reloaded');
    });
  }

  fastify.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status =
      err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    const reason =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `body larger than ${settings.bodyLimit} bytes`
        : err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'Content-Type must be application/json'
          : status >= 500
            ? 'internal error'
            : oneLine(err.message);
    if (status >= 500) req.log.error({ err: { code: err.code, type: err.name } }, 'request failed');
    else req.log.warn({ status, reason, url: req.url.split('?')[0] }, 'bad request');
    observer.badRequest?.(req.url.startsWith('/mutate') ? 'mutate' : 'validate', reason);
    void reply.code(status).send({ error: reason });
  });

  const answer = (
    req: FastifyRequest,
    reply: FastifyReply,
    webhook: Webhook,
    r: RequestSummary,
    outcome: ReviewOutcome,
    started: bigint,
    extra: Record<string, unknown> = {},
  ) => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // The answer goes on the wire first: the apiserver is waiting for it, while the metrics and
    // the log line are ours (formatting and writing the line were ~20 % of busy CPU in a profile
    // of reviews at the apiserver's pattern). Both still run in this tick, before the client can
    // read the answer, so a test that reads them after its response sees them.
    void reply
      .code(200)
      .header('content-type', 'application/json')
      .send(reviewResponse(outcome.response));
    observer.review?.(webhook, outcome, seconds, r.kind, r.operation);
    // built only when it is written: the name masking is not free
    if ((outcome.decision !== 'skip' || r.dryRun) && logger.isLevelEnabled('info')) {
      req.log.info(
        {
          webhook,
          uid: r.uid,
          kind: r.kind,
          // names are user text; a token pasted into one is masked (never a whole token in a log)
          namespace: r.namespace === undefined ? undefined : redactSecrets(r.namespace),
          name: r.name === undefined ? undefined : redactSecrets(r.name),
          operation: r.operation,
          dryRun: r.dryRun,
          mode: outcome.mode,
          decision: outcome.decision,
          rules: outcome.ruleIds,
          patched: outcome.response.patch !== undefined,
          durationMs: Math.round(seconds * 1e5) / 100,
          ...extra,
        },
        'admission review',
      );
    }
    return reply;
  };

  const mutationFailed = (uid: string, mode: Mode): ReviewOutcome => ({
    response: allow(uid, {
      warnings: [
        'gitlab-runner-admission: internal error while planning the mutation; nothing was injected',
      ],
    }),
    decision: 'warn',
    mode,
    ruleIds: [],
    findings: [],
  });

  /**
   * A review that ran over its budget: the answer the webhook's failurePolicy would give, with a
   * message that says why. Never an allow that looks like a checked object.
   */
  const overBudget = (
    webhook: Webhook,
    uid: string,
    mode: Mode,
    res: Extract<PoolResult, { kind: 'cut' }>,
    bytes: number,
  ): ReviewOutcome => {
    const why = `gitlab-runner-admission: this object (${bytes} bytes) was not checked: ${WHY[res.why]} (${res.ms} ms)`;
    if (webhook === 'validate' && settings.analysis.failurePolicy === 'Fail') {
      return {
        response: deny(uid, `${why}; denied as failurePolicy Fail would. Split or shrink it.`),
        decision: 'deny',
        mode,
        ruleIds: [],
        findings: [],
      };
    }
    const what =
      webhook === 'validate'
        ? 'allowed unchecked as failurePolicy Ignore would'
        : 'nothing was injected';
    return {
      response: allow(uid, { warnings: [`${why}; ${what}`] }),
      decision: 'warn',
      mode,
      ruleIds: [],
      findings: [],
    };
  };

  const handleLarge = async (
    req: FastifyRequest,
    reply: FastifyReply,
    webhook: Webhook,
    mode: Mode,
    body: LargeBody,
    started: bigint,
  ) => {
    const timeout = parseTimeout((req.query as Record<string, unknown>)?.timeout);
    const deadline = reviewDeadline(Date.now(), settings.reviewBudgetMs, timeout);
    // read before the bytes are handed to the worker (which detaches them here)
    const bytes = body.bytes.length;
    const uidAtStart = uidFromBytes(body.bytes);
    // fastify starts this clock when the request's headers are in, before the body is read
    const arrival = Date.now() - reply.elapsedTime;
    // A few ms on the event loop for the largest bodies (7 ms for 2.6 MB), and a body that is
    // mostly punctuation never reaches a worker, whose parse of it would cost ~100 MB.
    const res: PoolResult = exceedsJsonValues(body.bytes, settings.analysis.maxJsonValues)
      ? { kind: 'cut', why: 'values', ms: Date.now() - arrival }
      : await pool.run({ webhook, mode, body: body.bytes, arrival, deadline });
    if (res.kind === 'done')
      return answer(req, reply, webhook, res.request, res.outcome, started, {
        bytes,
        worker: true,
      });
    if (res.kind === 'bad') {
      req.log.warn({ webhook, reason: res.reason }, 'not an AdmissionReview v1');
      observer.badRequest?.(webhook, res.reason);
      return reply.code(400).send({ error: res.reason });
    }
    if (res.kind === 'error') {
      if (webhook === 'validate' || !res.request) throw new Error('review failed on its worker');
      req.log.error({ webhook, uid: res.request.uid }, 'mutation failed; nothing injected');
      return answer(
        req,
        reply,
        webhook,
        res.request,
        mutationFailed(res.request.uid, mode),
        started,
      );
    }
    const uid = res.request?.uid ?? uidAtStart;
    req.log.warn(
      { webhook, uid, event: 'review-cut', why: res.why, ms: res.ms, bytes },
      'review over budget; answered as the failurePolicy would',
    );
    try {
      observer.reviewCut?.(webhook, res.why);
    } catch {
      // a metrics bug must not change a verdict
    }
    // Without a uid there is no AdmissionReview to answer: a 500 makes the apiserver apply the
    // failurePolicy itself.
    if (uid === undefined)
      return reply.code(500).send({ error: `object not checked: ${WHY[res.why]}` });
    const summary: RequestSummary = res.request ?? {
      uid,
      kind: 'unknown',
      operation: 'unknown',
      dryRun: false,
    };
    return answer(
      req,
      reply,
      webhook,
      summary,
      overBudget(webhook, uid, mode, res, bytes),
      started,
    );
  };

  const handle =
    (webhook: Webhook, pathMode: (req: FastifyRequest) => Mode | undefined) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const started = process.hrtime.bigint();
      const mode = pathMode(req);
      if (mode === undefined)
        return reply.code(404).send({ error: 'unknown mode in path; use enforce, warn or audit' });
      if (req.body instanceof LargeBody)
        return handleLarge(req, reply, webhook, mode, req.body, started);
      const parsed = parseReview(req.body);
      if (!parsed.ok) {
        req.log.warn({ webhook, reason: parsed.reason }, 'not an AdmissionReview v1');
        observer.badRequest?.(webhook, parsed.reason);
        return reply.code(400).send({ error: parsed.reason });
      }
      const r = parsed.request;
      const timeout = parseTimeout((req.query as Record<string, unknown>)?.timeout);
      const deadline = reviewDeadline(Date.now(), settings.reviewBudgetMs, timeout);
      let outcome: ReviewOutcome;
      try {
        outcome =
          webhook === 'validate'
            ? await validateRequest(r, mode, deps, deadline)
            : await mutateRequest(r, mode, deps, deadline);
      } catch (err) {
        // A validating bug answers 500 so the apiserver applies the admin's failurePolicy. Mutation
        // is an optional convenience: it fails open, as its failurePolicy Ignore would, but says so.
        if (webhook === 'validate') throw err;
        req.log.error(
          { webhook, uid: r.uid, err: { type: err instanceof Error ? err.name : typeof err } },
          'mutation failed; nothing injected',
        );
        outcome = mutationFailed(r.uid, mode);
      }
      return answer(req, reply, webhook, summarize(r), outcome, started);
    };

  fastify.post(
    '/validate',
    handle('validate', () => settings.mode),
  );
  fastify.post(
    '/validate/:mode',
    handle('validate', (req) => {
      const m = (req.params as { mode?: string }).mode;
      return isMode(m) ? m : undefined;
    }),
  );
  fastify.post(
    '/mutate',
    handle('mutate', () => settings.mode),
  );

  fastify.get('/healthz', async () => ({ status: 'ok' }));
  fastify.get('/readyz', async (_req, reply) => {
    if (draining) return reply.code(503).send({ status: 'draining' });
    if (!certs.ready()) return reply.code(503).send({ status: 'certificates not ready' });
    return { status: 'ready' };
  });

  return {
    fastify,
    setDraining: (d) => {
      draining = d;
    },
  };
}
