import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { mutateRequest } from '../admission/mutate.js';
import { allow, parseReview, reviewResponse } from '../admission/review.js';
import { validateRequest, type ReviewOutcome, type ValidateDeps } from '../admission/validate.js';
import { isMode, type Mode, type Settings } from '../settings/settings.js';
import { guardDeps, type Dependency } from './budget.js';
import { parseTimeout, reviewDeadline } from './timeout.js';
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
  review?(webhook: Webhook, outcome: ReviewOutcome, seconds: number, kind: string, operation: string): void;
  badRequest?(webhook: Webhook, reason: string): void;
  /** a dependency did not answer within the review budget and the review went on without it */
  budgetExceeded?(dep: Dependency): void;
}

export interface AppOptions {
  settings: Settings;
  logger: Logger;
  certs: ServerCerts;
  deps?: ValidateDeps;
  observer?: ServerObserver;
}

export interface App {
  fastify: FastifyInstance<HttpsServer, import('node:http').IncomingMessage, import('node:http').ServerResponse, Logger>;
  /** set while draining on SIGTERM: /readyz answers 503, reviews are still answered */
  setDraining(d: boolean): void;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').slice(0, 300);
}

export function buildApp(opts: AppOptions): App {
  const { settings, logger, certs } = opts;
  const observer = opts.observer ?? {};
  const deps = guardDeps(opts.deps ?? {}, { log: logger, onExceeded: (d) => observer.budgetExceeded?.(d) });
  let draining = false;

  const tls = certs.current();
  const fastify = Fastify({
    loggerInstance: logger,
    // One line per review is logged by the handler below; fastify's per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    https: { key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' },
    http2: false,
    bodyLimit: settings.bodyLimit,
    // The apiserver reuses connections for up to 90 s idle; a shorter server keep-alive races
    // its reuse and shows up as sporadic "connection reset" admission failures.
    keepAliveTimeout: 120_000,
    requestTimeout: 30_000,
    // `__proto__` is a legal ConfigMap data key; JSON.parse makes it an own property, which is
    // what we want to inspect. Stripping it ('remove') would hide a config from the rules.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    return503OnClosing: false,
  });

  // The apiserver always sends application/json; anything else is not an AdmissionReview (415).
  fastify.removeContentTypeParser('text/plain');

  if (certs.onUpdate) {
    certs.onUpdate((m) => {
      // New handshakes get the new cert; open connections keep theirs (no drop).
      fastify.server.setSecureContext({ key: m.key, cert: m.cert, minVersion: 'TLSv1.2' } as Parameters<typeof fastify.server.setSecureContext>[0]);
      logger.info({ event: 'tls-reload' }, 'serving certificate reloaded');
    });
  }

  fastify.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
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

  const handle = (webhook: Webhook, pathMode: (req: FastifyRequest) => Mode | undefined) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const started = process.hrtime.bigint();
      const mode = pathMode(req);
      if (mode === undefined) return reply.code(404).send({ error: 'unknown mode in path; use enforce, warn or audit' });
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
        outcome = webhook === 'validate' ? await validateRequest(r, mode, deps, deadline) : await mutateRequest(r, mode, deps, deadline);
      } catch (err) {
        // A validating bug answers 500 so the apiserver applies the admin's failurePolicy. Mutation
        // is an optional convenience: it fails open, as its failurePolicy Ignore would, but says so.
        if (webhook === 'validate') throw err;
        req.log.error({ webhook, uid: r.uid, err: { type: err instanceof Error ? err.name : typeof err } }, 'mutation failed; nothing injected');
        outcome = { response: allow(r.uid, { warnings: ['gitlab-runner-admission: internal error while planning the mutation; nothing was injected'] }), decision: 'warn', mode, ruleIds: [], findings: [] };
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      observer.review?.(webhook, outcome, seconds, r.kind.kind, r.operation);
      if (outcome.decision !== 'skip' || r.dryRun) {
        req.log.info(
          {
            webhook,
            uid: r.uid,
            kind: r.kind.kind,
            // names are user text; a token pasted into one is masked (house rule: never a whole token in a log)
            namespace: r.namespace === undefined ? undefined : redactSecrets(r.namespace),
            name: r.name === undefined ? undefined : redactSecrets(r.name),
            operation: r.operation,
            dryRun: r.dryRun,
            mode: outcome.mode,
            decision: outcome.decision,
            rules: outcome.ruleIds,
            patched: outcome.response.patch !== undefined,
            durationMs: Math.round(seconds * 1e5) / 100,
          },
          'admission review',
        );
      }
      return reply.code(200).header('content-type', 'application/json').send(reviewResponse(outcome.response));
    };

  fastify.post('/validate', handle('validate', () => settings.mode));
  fastify.post('/validate/:mode', handle('validate', (req) => {
    const m = (req.params as { mode?: string }).mode;
    return isMode(m) ? m : undefined;
  }));
  fastify.post('/mutate', handle('mutate', () => settings.mode));

  fastify.get('/healthz', async () => ({ status: 'ok' }));
  fastify.get('/readyz', async (_req, reply) => {
    if (draining) return reply.code(503).send({ status: 'draining' });
    if (!certs.ready()) return reply.code(503).send({ status: 'certificates not ready' });
    return { status: 'ready' };
  });

  return { fastify, setDraining: (d) => { draining = d; } };
}
