import type { Logger } from 'pino';
import type { App } from './app.js';

/**
 * Graceful shutdown for a webhook in the path of every matching `kubectl apply`.
 *
 * After SIGTERM the pod is removed from the Service's endpoints, but kube-proxy on every node and
 * the apiserver's own endpoint view catch up only some seconds later
 * (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination): requests keep
 * arriving during that window, and refusing them (503 or a closed port) fails those admissions or
 * hands them to failurePolicy. So, in order:
 *   1. readiness answers 503 (the kubelet stops sending traffic on its next probe);
 *   2. the listener stays open for `listenMs` and every request is answered normally, each response
 *      with `Connection: close` so keep-alive clients move to a new connection, which the Service
 *      now routes to another replica;
 *   3. the listener closes; in-flight reviews finish (each is bounded by the review budget), idle
 *      connections are closed;
 *   4. at `deadlineMs` after the signal whatever is left is cut and the result is 'forced'.
 */

export interface DrainPlan {
  /** how long to keep accepting new connections after the signal */
  listenMs: number;
  /** the whole drain, signal to exit */
  deadlineMs: number;
}

/**
 * GRA_SHUTDOWN_GRACE_MS is the whole window (charts/.../values.yaml `server.shutdownGraceSeconds`,
 * below terminationGracePeriodSeconds). Half of it keeps the door open for late routing (capped at
 * 10 s, well past typical endpoint propagation); the other half is for in-flight reviews, which
 * need at most GRA_REVIEW_BUDGET_MS.
 */
export function drainPlan(graceMs: number): DrainPlan {
  return { listenMs: Math.min(Math.floor(graceMs / 2), 10_000), deadlineMs: graceMs };
}

export type DrainResult = 'clean' | 'forced';

export interface Drainer {
  /** true from the first call of drain() */
  readonly draining: boolean;
  drain(plan: DrainPlan): Promise<DrainResult>;
}

/** Install before listen(): adds the Connection: close hook used while draining. */
export function createDrainer(
  app: App,
  log: Pick<Logger, 'info' | 'warn'>,
  onDraining?: () => void,
): Drainer {
  let draining = false;
  let running: Promise<DrainResult> | undefined;
  const fastify = app.fastify;

  // Callback style, not async: this runs on every response and an async hook costs a promise each time.
  fastify.addHook('onSend', (_req, reply, payload, done) => {
    if (draining) void reply.header('connection', 'close');
    done(null, payload);
  });

  const drain = (plan: DrainPlan): Promise<DrainResult> => {
    if (running) return running;
    draining = true;
    app.setDraining(true);
    onDraining?.();
    const t0 = Date.now();
    log.info(
      { event: 'drain-start', listenMs: plan.listenMs, deadlineMs: plan.deadlineMs },
      'draining: readiness is 503, reviews are still answered',
    );
    let deadlineTimer: NodeJS.Timeout | undefined;
    const deadline = new Promise<DrainResult>((resolve) => {
      deadlineTimer = setTimeout(() => resolve('forced'), plan.deadlineMs);
    });
    const clean = (async (): Promise<DrainResult> => {
      if (plan.listenMs > 0) await new Promise((r) => setTimeout(r, plan.listenMs));
      log.info({ event: 'drain-close' }, 'draining: listener closed, finishing in-flight reviews');
      // fastify closes idle keep-alive connections and waits for the active ones (return503OnClosing is off in buildApp)
      await fastify.close();
      return 'clean';
    })();
    running = Promise.race([clean, deadline]).then((r) => {
      clearTimeout(deadlineTimer);
      if (r === 'forced') {
        fastify.server.closeAllConnections();
        log.warn(
          { event: 'drain-forced', ms: Date.now() - t0 },
          'drain deadline reached; remaining connections closed',
        );
      } else {
        log.info({ event: 'drain-done', ms: Date.now() - t0 }, 'drained');
      }
      return r;
    });
    return running;
  };

  return {
    get draining() {
      return draining;
    },
    drain,
  };
}
