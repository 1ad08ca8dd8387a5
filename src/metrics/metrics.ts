import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Lookups, ReviewOutcome } from '../admission/validate.js';
import type { ServerObserver, Webhook } from '../server/app.js';
import { CUT_REASONS } from '../server/review-pool.js';

/**
 * Prometheus metrics. Every label value comes from a small closed set (webhook, kind, operation,
 * decision, mode, rule id, outcome): a request can carry any string as kind or name, and an
 * unbounded label is both a memory leak and a way to put an object name (or worse, a token pasted
 * into a name) into the scrape. Anything outside the set is counted as "other".
 */

export const PREFIX = 'gitlab_runner_admission_';

/** The kinds the chart's webhook rules can send (charts/gitlab-runner-admission/templates) and their workload relatives. */
const KINDS = new Set([
  'ConfigMap',
  'Secret',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Pod',
  'Job',
  'CronJob',
]);
const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);
const RULE_ID = /^GRA\d{3}$/;

export const kindLabel = (k: string): string => (KINDS.has(k) ? k : 'other');
export const operationLabel = (o: string): string => (OPERATIONS.has(o) ? o : 'other');
export const ruleLabel = (r: string): string => (RULE_ID.test(r) ? r : 'other');

/** Sub-millisecond for the offline path, seconds for a slow dependency near the apiserver's timeout. */
const REVIEW_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const DEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What the GitLab verifier exposes (src/gitlab/verifier.ts); structural so metrics need not import it. */
export interface VerifierEvents {
  onOutcome(cb: (e: { outcome: string; source: string }) => void): () => void;
  onRequest(cb: (e: { outcome: string; latencyMs: number }) => void): () => void;
}

export interface CertEvents {
  current(): { cert: string };
  onUpdate?(cb: (p: { cert: string }) => void): void;
}

export type Dependency = 'lookups' | 'verifier';

export interface Metrics {
  registry: Registry;
  /** pass to buildApp({ observer }) */
  observer: ServerObserver;
  /** wrap the Kubernetes lookups: outcome per object read, latency per review */
  instrumentLookups<L extends Lookups>(l: L): Lookups;
  /** subscribe to the GitLab verifier's events; returns an unsubscribe function */
  instrumentVerifier(v: VerifierEvents): () => void;
  /** expiry gauge now and on every reload, reload counter */
  trackCerts(c: CertEvents): void;
  setDraining(d: boolean): void;
  /** text exposition for /metrics */
  scrape(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];

  const requests = new Counter({
    name: `${PREFIX}requests_total`,
    help: 'AdmissionReviews answered, by webhook, object kind, operation, decision and effective mode',
    labelNames: ['webhook', 'kind', 'operation', 'decision', 'mode'] as const,
    registers,
  });
  const duration = new Histogram({
    name: `${PREFIX}request_duration_seconds`,
    help: 'Time from parsed request to decided response, seconds',
    labelNames: ['webhook', 'kind', 'operation', 'decision', 'mode'] as const,
    buckets: REVIEW_BUCKETS,
    registers,
  });
  const badRequests = new Counter({
    name: `${PREFIX}bad_requests_total`,
    help: 'Requests refused with a 4xx/5xx before a decision (not an AdmissionReview, too large, wrong content type)',
    labelNames: ['webhook'] as const,
    registers,
  });
  const findings = new Counter({
    name: `${PREFIX}findings_total`,
    help: 'Findings reported in reviews, by rule id',
    labelNames: ['rule'] as const,
    registers,
  });
  const budgetExceeded = new Counter({
    name: `${PREFIX}dependency_budget_exceeded_total`,
    help: 'Reviews decided without a dependency because it did not answer within the review budget (fail open)',
    labelNames: ['dependency'] as const,
    registers,
  });
  const reviewsCut = new Counter({
    name: `${PREFIX}reviews_cut_total`,
    help: `Reviews of large objects cut at the analysis budget (${CUT_REASONS.join(', ')}) and answered as the failurePolicy would`,
    labelNames: ['webhook', 'reason'] as const,
    registers,
  });
  const lookupObjects = new Counter({
    name: `${PREFIX}kube_lookup_objects_total`,
    help: 'ConfigMaps/Secrets read from the Kubernetes API for a review, by result (found, not-found, forbidden, error)',
    labelNames: ['kind', 'result'] as const,
    registers,
  });
  const lookupDuration = new Histogram({
    name: `${PREFIX}kube_lookup_duration_seconds`,
    help: 'Time spent reading referenced objects for one review (cache hits included), by outcome (ok, partial, error)',
    labelNames: ['outcome'] as const,
    buckets: DEP_BUCKETS,
    registers,
  });
  const gitlabVerifications = new Counter({
    name: `${PREFIX}gitlab_verifications_total`,
    help: 'Tokens considered for online verification, by outcome and where the answer came from (network, shared, cache, none)',
    labelNames: ['outcome', 'source'] as const,
    registers,
  });
  const gitlabDuration = new Histogram({
    name: `${PREFIX}gitlab_request_duration_seconds`,
    help: 'HTTP calls to GitLab POST /api/v4/runners/verify, by outcome',
    labelNames: ['outcome'] as const,
    buckets: DEP_BUCKETS,
    registers,
  });
  const certExpiry = new Gauge({
    name: `${PREFIX}cert_expiry_timestamp_seconds`,
    help: 'notAfter of the serving certificate being served, Unix seconds',
    registers,
  });
  const certReloads = new Counter({
    name: `${PREFIX}cert_reloads_total`,
    help: 'Serving certificate replaced without a restart',
    registers,
  });
  const draining = new Gauge({
    name: `${PREFIX}draining`,
    help: '1 while shutting down (readiness is 503, reviews are still answered)',
    registers,
  });

  // Label children cached per combination: labels() hashes its arguments on every call, and
  // this runs on every review.
  type Children = { c: ReturnType<typeof requests.labels>; h: ReturnType<typeof duration.labels> };
  const children = new Map<string, Children>();
  const ruleChildren = new Map<string, ReturnType<typeof findings.labels>>();

  const observer: ServerObserver = {
    review(
      webhook: Webhook,
      outcome: ReviewOutcome,
      seconds: number,
      kind: string,
      operation: string,
    ) {
      const k = kindLabel(kind);
      const op = operationLabel(operation);
      const key = `${webhook}|${k}|${op}|${outcome.decision}|${outcome.mode}`;
      let ch = children.get(key);
      if (!ch) {
        ch = {
          c: requests.labels(webhook, k, op, outcome.decision, outcome.mode),
          h: duration.labels(webhook, k, op, outcome.decision, outcome.mode),
        };
        children.set(key, ch);
      }
      ch.c.inc();
      ch.h.observe(seconds);
      for (const f of outcome.findings) {
        const r = ruleLabel(f.ruleId);
        let rc = ruleChildren.get(r);
        if (!rc) ruleChildren.set(r, (rc = findings.labels(r)));
        rc.inc();
      }
    },
    badRequest(webhook: Webhook) {
      badRequests.labels(webhook).inc();
    },
    budgetExceeded(dep: Dependency) {
      budgetExceeded.labels(dep).inc();
    },
    reviewCut(webhook: Webhook, why: string) {
      reviewsCut
        .labels(webhook, (CUT_REASONS as readonly string[]).includes(why) ? why : 'other')
        .inc();
    },
  };

  const setExpiry = (pem: string): void => {
    try {
      certExpiry.set(Math.floor(Date.parse(new X509Certificate(pem).validTo) / 1000));
    } catch {
      // an unparsable cert is refused by src/certs before it is served; keep the last value
    }
  };

  return {
    registry,
    observer,
    instrumentLookups(l) {
      const count = (t0: number, r: Awaited<ReturnType<Lookups['resolve']>>): void => {
        let outcome: 'ok' | 'partial' | 'error' | undefined;
        if (r.resolved) {
          outcome = 'ok';
          for (const [kind, map] of [
            ['ConfigMap', r.resolved.configMaps],
            ['Secret', r.resolved.secrets],
          ] as const) {
            for (const v of map.values()) {
              const result = typeof v === 'object' ? 'found' : v;
              if (result !== 'found') outcome = 'partial';
              lookupObjects.labels(kind, result).inc();
            }
          }
        } else if (r.warnings.length > 0) {
          outcome = 'error';
        }
        // undefined: the workload referenced nothing, so nothing was read
        if (outcome) lookupDuration.labels(outcome).observe((performance.now() - t0) / 1000);
      };
      const out: Lookups = {
        async resolve(obj, namespace, deadline) {
          const t0 = performance.now();
          const r = await l.resolve(obj, namespace, deadline);
          count(t0, r);
          return r;
        },
      };
      const refs = l.resolveRefs?.bind(l);
      if (refs) {
        out.resolveRefs = async (want, namespace, deadline) => {
          const t0 = performance.now();
          const r = await refs(want, namespace, deadline);
          count(t0, r);
          return r;
        };
      }
      return out;
    },
    instrumentVerifier(v) {
      const a = v.onOutcome((e) => gitlabVerifications.labels(e.outcome, e.source).inc());
      const b = v.onRequest((e) => gitlabDuration.labels(e.outcome).observe(e.latencyMs / 1000));
      return () => {
        a();
        b();
      };
    },
    trackCerts(c) {
      setExpiry(c.current().cert);
      c.onUpdate?.((p) => {
        certReloads.inc();
        setExpiry(p.cert);
      });
    },
    setDraining(d) {
      draining.set(d ? 1 : 0);
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
