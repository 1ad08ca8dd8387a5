import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Lookups, TokenVerifier } from '../../src/admission/validate.js';
import { ensureDevCerts } from '../../src/certs/dev.js';
import { makeFinding } from '../../src/rules/rule.js';
import { TOKEN_REJECTED } from '../../src/rules/gitlab/rules.js';
import { buildApp } from '../../src/server/app.js';
import {
  LOOKUPS_FAILED,
  LOOKUPS_LATE,
  VERIFIER_FAILED,
  VERIFIER_LATE,
} from '../../src/server/budget.js';
import { loadSettings } from '../../src/settings/settings.js';
import { fixturesDir, readYamlDocs } from '../helpers/fixtures.js';
import { review } from '../helpers/server.js';

/**
 * The review budget: a dependency that is slow, hangs or throws never holds a review past its
 * deadline; the review is decided without it (fail open) and says so in a warning. Fake deps are
 * injected through buildApp; requests go through fastify.inject (no network).
 */

const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-budget-'));
const dev = await ensureDevCerts(dir);
t.teardown(() => rm(dir, { recursive: true, force: true }));

const deployment = readYamlDocs(path.join(fixturesDir, 'seed/deployment-run.yaml'))[0];
const TOKEN = 'glrt-BudgetBudgetBudg42';
const online = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'runner', namespace: 'ci' },
  data: {
    'config.toml': `[[runners]]\n  name = "r"\n  url = "https://127.0.0.1:1"\n  token = "${TOKEN}"\n  executor = "kubernetes"\n`,
  },
};

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

function app(deps: { lookups?: Lookups; verifier?: TokenVerifier }, budgetMs = 300) {
  const settings = loadSettings({
    GRA_REVIEW_BUDGET_MS: String(budgetMs),
    GRA_LOG_LEVEL: 'silent',
  });
  const exceeded: string[] = [];
  const a = buildApp({
    settings,
    logger: pino({ level: 'silent' }),
    certs: { current: () => ({ key: dev.key, cert: dev.cert }), ready: () => true },
    deps,
    observer: { budgetExceeded: (d) => void exceeded.push(d) },
  });
  t.teardown(() => a.fastify.close());
  return { a, exceeded };
}

async function send(a: ReturnType<typeof app>['a'], url: string, body: unknown) {
  const started = Date.now();
  const res = await a.fastify.inject({
    method: 'POST',
    url,
    payload: body as object,
    headers: { 'content-type': 'application/json' },
  });
  return { status: res.statusCode, json: res.json(), ms: Date.now() - started };
}

t.test('fallback warnings fit kubectl (≤ 120 chars)', async (t) => {
  for (const w of [LOOKUPS_LATE, LOOKUPS_FAILED, VERIFIER_LATE, VERIFIER_FAILED])
    t.ok(w.length <= 120, w);
});

t.test(
  'a Kubernetes API that never answers: decided within the apiserver timeout, with a warning',
  async (t) => {
    let called = 0;
    const { a, exceeded } = app({ lookups: { resolve: () => (called++, never()) } });
    const r = await send(a, '/validate?timeout=2s', review(deployment));
    t.equal(r.status, 200);
    t.equal(called, 1, 'the lookup was tried');
    t.type(r.json.response.allowed, 'boolean');
    t.ok(
      (r.json.response.warnings ?? []).includes(LOOKUPS_LATE),
      'says it decided without the lookup',
    );
    t.ok(r.ms < 2000, `answered before the apiserver gives up (${r.ms} ms)`);
    t.same(exceeded, ['lookups'], 'reported to the observer (metrics)');
  },
);

t.test(
  'a GitLab that never answers: the offline verdict stands, tokens not verified online',
  async (t) => {
    const { a, exceeded } = app({ verifier: { verify: () => never() } });
    const r = await send(a, '/validate?timeout=2s', review(online));
    t.equal(r.status, 200);
    t.equal(
      r.json.response.allowed,
      true,
      'fail open: an authentication token in a ConfigMap is only a warning offline',
    );
    t.ok((r.json.response.warnings ?? []).includes(VERIFIER_LATE));
    t.notMatch(JSON.stringify(r.json), /GRA301/, 'no online finding invented');
    t.same(exceeded, ['verifier']);
  },
);

t.test('a dependency that throws: fail open with a warning, not a 500', async (t) => {
  const { a } = app({
    lookups: { resolve: async () => Promise.reject(new Error('boom ' + TOKEN)) },
    verifier: { verify: async () => Promise.reject(new TypeError('bad')) },
  });
  const r1 = await send(a, '/validate', review(deployment));
  t.equal(r1.status, 200);
  t.ok((r1.json.response.warnings ?? []).includes(LOOKUPS_FAILED));
  const r2 = await send(a, '/validate', review(online));
  t.equal(r2.status, 200);
  t.ok((r2.json.response.warnings ?? []).includes(VERIFIER_FAILED));
  t.notOk(
    JSON.stringify(r2.json).includes(TOKEN),
    'the error text (with a token in it) never reaches the response',
  );
});

t.test('an answer inside the budget is used, not dropped', async (t) => {
  const verifier: TokenVerifier = {
    verify: async (items) => {
      await new Promise((r) => setTimeout(r, 30));
      const c = items[0]!;
      return {
        findings: [makeFinding(TOKEN_REJECTED, { url: c.url, token: 'glrt-…ug42' }, c.at)],
        warnings: [],
      };
    },
  };
  const { a, exceeded } = app({ verifier }, 2000);
  const r = await send(a, '/validate?timeout=10s', review(online));
  t.equal(r.json.response.allowed, false, 'the GitLab finding denies');
  t.match(r.json.response.status.message, /GRA301/);
  t.same(exceeded, []);
});

t.test('no time left at all: the dependency is not even called', async (t) => {
  let called = 0;
  const { a, exceeded } = app({
    verifier: { verify: async () => (called++, { findings: [], warnings: [] }) },
  });
  // 1ms: the apiserver's deadline is already (nearly) gone when the request is parsed
  const r = await send(a, '/validate?timeout=1ms', review(online));
  t.equal(r.status, 200);
  t.equal(called, 0);
  t.ok((r.json.response.warnings ?? []).includes(VERIFIER_LATE));
  t.same(exceeded, ['verifier']);
});

t.test('the same guard covers /mutate', async (t) => {
  const { a } = app({ lookups: { resolve: () => never() } });
  const r = await send(a, '/mutate?timeout=1s', review(deployment));
  t.equal(r.status, 200, 'answered even if the mutation planner waits on lookups');
  t.equal(r.json.response.uid !== undefined, true);
});
