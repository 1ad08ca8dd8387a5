import t, { type Test } from 'tap';
import path from 'node:path';
import fjp from 'fast-json-patch';
import { mutateRequest } from '../../src/admission/mutate.js';
import { parseReview, type AdmissionRequest } from '../../src/admission/review.js';
import type { Lookups } from '../../src/admission/validate.js';
import { planInjection } from '../../src/mutation/plan.js';
import { evaluateObject } from '../../src/rules/evaluate.js';
import type { ResolvedRefs } from '../../src/workload/types.js';
import {
  fixturesDir,
  listFiles,
  readJson,
  readYamlDocs,
  SEED_REG_TOKEN,
} from '../helpers/fixtures.js';

/**
 * Every fixture under test/fixtures (copied from ../shared/fixtures) through POST /mutate's
 * core: a patch that applies cleanly, or none — asserted per fixture, with the cluster holding
 * the seed's template ConfigMap and token Secret (an in-memory Lookups).
 */

const seed = (f: string) => readYamlDocs(path.join(fixturesDir, 'seed', f))[0];
const template = seed('configmap-template.yaml');
const tokens = seed('secret-runner-tokens.yaml');

const lookups = (configText: string = template.data['config.toml']): Lookups => ({
  async resolve() {
    const resolved: ResolvedRefs = {
      configMaps: new Map([['gitlab-runner-config', { 'config.toml': configText }]]),
      secrets: new Map([['gitlab-runner-tokens', { ...tokens.stringData }]]),
    };
    return { resolved, warnings: [] };
  },
});

const far = () => Date.now() + 5000;

function requestOf(file: string): AdmissionRequest {
  const p = parseReview(readJson(path.join(fixturesDir, 'admission', file)));
  if (!p.ok) throw new Error(p.reason);
  return p.request;
}

function yamlRequest(obj: any, op: 'CREATE' | 'UPDATE' = 'CREATE'): AdmissionRequest {
  return {
    uid: 'u1',
    kind: { group: obj.kind === 'Pod' ? '' : 'apps', version: 'v1', kind: obj.kind },
    operation: op,
    object: obj,
    namespace: obj.metadata?.namespace,
    name: obj.metadata?.name,
    dryRun: false,
  };
}

function decodePatch(b64: string): fjp.Operation[] {
  return JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
}

async function check(
  t: Test,
  req: AdmissionRequest,
  expect: 'patch' | string,
  lk: Lookups = lookups(),
): Promise<any> {
  const out = await mutateRequest(req, 'enforce', { lookups: lk }, far());
  const r = out.response;
  t.equal(r.uid, req.uid);
  t.equal(r.allowed, true, 'the mutating webhook never denies');
  if (expect !== 'patch') {
    t.equal(r.patch, undefined, `no patch (${expect})`);
    t.equal(r.patchType, undefined, 'no patchType without a patch');
    if (req.object !== undefined && req.operation !== 'DELETE') {
      const p = planInjection(req.object, {
        kind: req.kind.kind,
        resolved: (await lk.resolve(req.object, req.namespace, far())).resolved!,
      });
      t.equal(p.action === 'none' ? p.reason : 'patch', expect, `reason ${expect}`);
    }
    return undefined;
  }
  t.equal(r.patchType, 'JSONPatch');
  t.type(r.patch, 'string');
  const patched = fjp.applyPatch(
    structuredClone(req.object),
    decodePatch(r.patch!),
    true,
    false,
  ).newDocument;
  const resolved = (await lk.resolve(patched, req.namespace, far())).resolved!;
  t.same(
    evaluateObject(patched, { kind: req.kind.kind, resolved })
      .findings.filter((f) => f.severity === 'deny')
      .map((f) => f.ruleId),
    [],
    'mutated object passes the validating rules',
  );
  const again = await mutateRequest(
    { ...req, operation: 'UPDATE', object: patched, oldObject: patched },
    'enforce',
    { lookups: lk },
    far(),
  );
  t.equal(again.response.patch, undefined, 're-admission: no second patch');
  t.notOk(
    JSON.stringify(patched).includes(SEED_REG_TOKEN) &&
      !JSON.stringify(req.object).includes(SEED_REG_TOKEN),
    'the patch adds no token',
  );
  return patched;
}

// Per fixture: what /mutate does with it as captured (no annotation added).
const ADMISSION_EXPECT: Record<string, string> = {
  'configmap-create-dryrun-minimal.json': 'skip',
  'configmap-create-registration-token.json': 'skip',
  'configmap-delete.json': 'skip',
  'configmap-update-glrt-token.json': 'skip',
  'configmap-update-server-side-apply-template.json': 'skip',
  'secret-create-chart-keys.json': 'skip',
  'secret-update-swapped-keys-dryrun.json': 'skip',
  'deployment-create-run.json': 'no-token-source',
  'deployment-update-initcontainer-variant3.json': 'registers-already',
  'pod-create-plain-env-token.json': 'registers-already',
  'statefulset-create-registration-token-as-ci-server-token.json': 'no-config-source',
};

// The same workloads when the user asks for injection with the token-secret annotation.
const ANNOTATED_EXPECT: Record<string, string> = {
  'deployment-create-run.json': 'patch',
  'deployment-update-initcontainer-variant3.json': 'registers-already',
  'pod-create-plain-env-token.json': 'registers-already',
  'statefulset-create-registration-token-as-ci-server-token.json': 'no-config-source',
};

t.test('every admission fixture: a clean patch or none', async (t) => {
  const files = listFiles(path.join(fixturesDir, 'admission')).filter((f) => f.endsWith('.json'));
  t.same(files.sort(), Object.keys(ADMISSION_EXPECT).sort(), 'every fixture has an expectation');
  for (const f of files) {
    await t.test(f, async (t) => {
      const req = requestOf(f);
      const expect = ADMISSION_EXPECT[f]!;
      if (expect === 'skip') {
        const out = await mutateRequest(req, 'enforce', { lookups: lookups() }, far());
        t.equal(out.decision, 'skip');
        t.same(out.response, { uid: req.uid, allowed: true });
        return;
      }
      await check(t, req, expect);
    });
  }
  for (const [f, expect] of Object.entries(ANNOTATED_EXPECT)) {
    await t.test(`${f} + token-secret annotation`, async (t) => {
      const req = requestOf(f);
      const obj = req.object as any;
      obj.metadata.annotations = {
        ...(obj.metadata.annotations ?? {}),
        'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens',
      };
      const patched = await check(t, req, expect);
      if (patched) {
        t.ok(
          patched.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'],
          'other annotations kept',
        );
        t.equal(patched.spec.template.spec.initContainers.at(-1).name, 'register-runner');
      }
    });
  }
});

t.test('every seed workload: a clean patch or none', async (t) => {
  const cases: [string, boolean, string][] = [
    ['deployment-run.yaml', false, 'no-token-source'],
    ['deployment-run.yaml', true, 'patch'],
    ['deployment-initcontainer-variant3.yaml', false, 'registers-already'],
    ['deployment-initcontainer-variant3.yaml', true, 'registers-already'],
  ];
  for (const [f, annotated, expect] of cases) {
    await t.test(`${f}${annotated ? ' + annotation' : ''}`, async (t) => {
      const obj = seed(f);
      if (annotated)
        obj.metadata.annotations = {
          'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens',
        };
      await check(t, yamlRequest(obj), expect);
    });
  }
  await t.test(
    'deployment-run.yaml + annotation, with the registration-token ConfigMap in the cluster',
    async (t) => {
      const obj = seed('deployment-run.yaml');
      obj.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };
      await check(
        t,
        yamlRequest(obj),
        'not-needed',
        lookups(seed('configmap-registration-token.yaml').data['config.toml']),
      );
    },
  );
});

t.test('DELETE, CONNECT and subresources: never a patch', async (t) => {
  const obj = seed('deployment-run.yaml');
  obj.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };
  for (const over of [
    { operation: 'DELETE' as const, object: undefined, oldObject: obj },
    { operation: 'CONNECT' as const },
    { operation: 'UPDATE' as const, subResource: 'scale' },
  ]) {
    const out = await mutateRequest(
      { ...yamlRequest(obj), ...over },
      'enforce',
      { lookups: lookups() },
      far(),
    );
    t.equal(out.response.patch, undefined);
    t.equal(out.decision, 'skip');
  }
});

t.test('audit mode changes nothing and records what it would do', async (t) => {
  const obj = seed('deployment-run.yaml');
  obj.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };
  const out = await mutateRequest(yamlRequest(obj), 'audit', { lookups: lookups() }, far());
  t.equal(out.response.patch, undefined);
  t.equal(out.response.auditAnnotations?.['would-inject'], 'true');
});

t.test(
  'without lookups the annotation yields a warning, not a patch; unrelated objects cause no lookup',
  async (t) => {
    const obj = seed('deployment-run.yaml');
    obj.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };
    const out = await mutateRequest(yamlRequest(obj), 'enforce', {}, far());
    t.equal(out.response.patch, undefined);
    t.match(out.response.warnings, [/^GRA407 /]);

    let calls = 0;
    const counting: Lookups = { resolve: async () => ((calls += 1), { warnings: [] }) };
    await mutateRequest(
      yamlRequest({
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'x' },
        spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
      }),
      'enforce',
      { lookups: counting },
      far(),
    );
    t.equal(calls, 0, 'no lookup for a non-runner workload');
  },
);
