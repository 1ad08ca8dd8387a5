import t from 'tap';
import { parseReview } from '../../src/admission/review.js';
import { validateRequest, type TokenVerifier } from '../../src/admission/validate.js';
import { makeFinding } from '../../src/rules/rule.js';
import { LEGACY_TOKEN_CONFIRMED } from '../../src/rules/gitlab/rules.js';
import { review } from '../helpers/server.js';

const legacy = '-sX9bT3kQ7pL2mN8vR4w';
const cm = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace: 'n' },
  data: {
    'config.toml': `[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  token = "${legacy}"\n`,
  },
};

function req(obj: unknown, over: Record<string, unknown> = {}) {
  const p = parseReview(review(obj, over));
  if (!p.ok) throw new Error(p.reason);
  return p.request;
}

t.test('GitLab confirming a legacy token replaces the offline "cannot tell" finding', async (t) => {
  const offline = await validateRequest(req(cm), 'enforce', {}, Date.now() + 1000);
  t.ok(offline.ruleIds.includes('GRA009'), 'offline: GRA009');
  const calls: unknown[] = [];
  const verifier: TokenVerifier = {
    async verify(items, opts) {
      calls.push({ n: items.length, dryRun: opts.dryRun });
      return {
        findings: items.map((i) =>
          makeFinding(LEGACY_TOKEN_CONFIRMED, { url: i.url, token: '…vR4w' }, i.at),
        ),
        warnings: [],
      };
    },
  };
  const online = await validateRequest(req(cm), 'enforce', { verifier }, Date.now() + 1000);
  t.same(calls, [{ n: 1, dryRun: false }]);
  t.notOk(online.ruleIds.includes('GRA009'), 'GRA009 dropped');
  t.ok(online.ruleIds.includes('GRA304'), 'GRA304 kept');
  t.ok(online.ruleIds.includes('GRA005'), 'other findings kept');
});

t.test('dryRun reaches the verifier; lookups only for workloads', async (t) => {
  const seen: boolean[] = [];
  const verifier: TokenVerifier = {
    async verify(_i, o) {
      seen.push(o.dryRun);
      return { findings: [], warnings: ['GitLab verification skipped (dry run)'] };
    },
  };
  let lookups = 0;
  const deps = {
    verifier,
    lookups: {
      async resolve() {
        lookups++;
        return { warnings: [] };
      },
    },
  };
  const r = await validateRequest(req(cm, { dryRun: true }), 'enforce', deps, Date.now() + 1000);
  t.same(seen, [true]);
  t.equal(lookups, 0, 'no lookup for a ConfigMap');
  t.ok(
    r.response.warnings?.some((w) => w.includes('skipped')),
    'verifier warning surfaces',
  );
  const dep = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'n' },
    spec: {
      template: {
        spec: {
          containers: [{ name: 'r', image: 'gitlab/gitlab-runner:v17.11.0', args: ['run'] }],
        },
      },
    },
  };
  await validateRequest(req(dep), 'enforce', deps, Date.now() + 1000);
  t.equal(lookups, 1, 'a runner workload is looked up');
});

t.test('DELETE, CONNECT and subresources are allowed without evaluation', async (t) => {
  for (const over of [
    { operation: 'DELETE', object: null, oldObject: cm },
    { operation: 'CONNECT' },
    { subResource: 'status' },
  ]) {
    const r = await validateRequest(req(cm, over), 'enforce', {}, Date.now() + 1000);
    t.equal(r.response.allowed, true);
    t.equal(r.decision, 'skip');
  }
});

t.test('parseReview: one-line reasons that never echo a token', async (t) => {
  const base = review(cm);
  const r1 = parseReview({ ...base, apiVersion: 'admission.k8s.io/v1beta1' });
  t.same(r1, {
    ok: false,
    reason:
      'apiVersion must be "admission.k8s.io/v1" (set admissionReviewVersions: [v1]), got "admission.k8s.io/v1beta1"',
  });
  const r2 = parseReview({
    ...base,
    request: { ...base.request, operation: 'GR1348941Xq7_pLm2VbN9cRt4wZsK' },
  });
  t.same(r2, {
    ok: false,
    reason:
      'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got a string of 29 characters',
  });
  const r3 = parseReview({ ...base, kind: 'glrt-Tq3vZ8xYp2LmN6bW4cRs' });
  t.notOk(JSON.stringify(r3).includes('Tq3vZ8'), 'kind not echoed when it is not kind-shaped');
  t.same(parseReview({ ...base, kind: 'AdmissionReviewList' }), {
    ok: false,
    reason: 'kind must be "AdmissionReview", got "AdmissionReviewList"',
  });
  t.same(parseReview('x'), { ok: false, reason: 'body is not a JSON object' });
  t.same(parseReview({ ...base, request: { ...base.request, uid: '' } }), {
    ok: false,
    reason: 'request.uid is missing',
  });
});
