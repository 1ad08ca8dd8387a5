import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { runCheck, type CheckIo } from '../../src/cli/check.js';
import {
  checkChartValues,
  checkChartValuesText,
  chartValuesIn,
  neutralizeTemplate,
} from '../../src/rules/chartvalues/check.js';
import { evaluateObject } from '../../src/rules/evaluate.js';
import { fixturesDir } from '../helpers/fixtures.js';

const dir = path.join(fixturesDir, 'chartvalues');
const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
const ids = (fs: { ruleId: string }[]) => fs.map((f) => f.ruleId).sort();
const file = { kind: 'File', name: 'values.yaml' };

async function check(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = { out: '', err: '' };
  const io: CheckIo = {
    stdout: (s) => void (c.out += s),
    stderr: (s) => void (c.err += s),
    readStdin: async () => Buffer.alloc(0),
    isTTY: false,
    env: {},
  };
  const code = await runCheck(argv, io);
  return { code, ...c };
}

t.test('a values file is recognised by its shape, not by its name', async (t) => {
  t.ok(chartValuesIn(parse(read('values-swapped.yaml'))));
  t.ok(chartValuesIn({ runners: { secret: 'x' } }), 'runners.secret alone');
  t.same(
    chartValuesIn(parse(read('values-umbrella.yaml')))?.path,
    ['gitlab-runner'],
    'umbrella chart values',
  );
  t.notOk(
    chartValuesIn({ apiVersion: 'v1', kind: 'ConfigMap', gitlabUrl: 'x' }),
    'a Kubernetes object is not values',
  );
  t.notOk(chartValuesIn({ replicaCount: 1, image: { repository: 'nginx' } }), 'another chart');
  t.notOk(chartValuesIn({ runners: { config: 'no runner here' } }));
});

t.test(
  "token kinds per slot, the chart's precedence, inline tokens, and lines of the values file",
  async (t) => {
    const ev = checkChartValuesText(read('values-swapped.yaml'), {
      object: file,
      host: 'this values file',
    })!;
    t.ok(ev);
    const by = (id: string) => ev.findings.filter((f) => f.ruleId === id);
    t.equal(by('GRA501')[0]?.line, 10, 'registration token in runnerToken, line of the key');
    t.equal(by('GRA501')[0]?.severity, 'deny');
    t.equal(by('GRA502')[0]?.line, 11);
    t.equal(
      by('GRA502')[0]?.severity,
      'warn',
      'a glrt- token as registration token is accepted by register: warn',
    );
    t.equal(by('GRA504').length, 1, 'both set: runnerRegistrationToken is never used');
    t.equal(by('GRA505').length, 2, 'both tokens inline in values');
    const unknown = by('GRA007')[0];
    t.equal(
      unknown?.line,
      25,
      'a typo in runners.config, line of the values file (through `{{.Release.Namespace}}`)',
    );
    t.match(unknown?.message, /buids_dir/);
    for (const f of ev.findings)
      t.notMatch(
        JSON.stringify(f),
        /Zq8vLm2XcT4pWb7nKd9s|Ab3dE6gH9jK2mN5pQ8sT/,
        'no whole token in a finding',
      );
    t.same(ev.credentials, [], 'no authentication token in runnerToken: nothing to verify');
  },
);

t.test('glrtr-/t1_ tokens in runnerRegistrationToken are refused by GitLab: deny', async (t) => {
  const ev = checkChartValues(
    { gitlabUrl: 'https://g', runnerRegistrationToken: 'glrtr-Xy7wV4uT1sR8qP5oN2mL' },
    { object: file, host: 'x', prefix: [] },
  );
  t.equal(ev.findings.find((f) => f.ruleId === 'GRA502')?.severity, 'deny');
});

t.test(
  'a foreign token in runnerToken: GRA503, and never sent to GitLab for verification',
  async (t) => {
    const ev = checkChartValues(
      { gitlabUrl: 'https://g', runnerToken: 'glpat-Zq8vLm2XcT4pWb7nKd9s' },
      { object: file, host: 'x', prefix: [] },
    );
    t.ok(ev.findings.some((f) => f.ruleId === 'GRA503'));
    t.same(ev.credentials, []);
  },
);

t.test(
  'the good shape: token in a Secret named by runners.secret, a templated config',
  async (t) => {
    const ev = checkChartValuesText(read('values-good.yaml'), {
      object: file,
      host: 'this values file',
    })!;
    t.same(ids(ev.findings), []);
    t.same(ev.notes, []);
  },
);

t.test(
  'runners.config: Helm actions keep their lines; an action-only line is dropped',
  async (t) => {
    const out = neutralizeTemplate(
      'a = "{{ .Release.Namespace }}"\n{{- if .Values.x }}\nb = {{ .Values.b }}\n{{- end }}',
    );
    t.equal(out, 'a = "tpl"\n\nb = "tpl"\n');
    t.equal(out.split('\n').length, 4);
    const broken = checkChartValues(
      { runners: { config: '[[runners]]\n  {{ range .Values.x }}x = {{ . }} y\n' } },
      { object: file, host: 'x', prefix: [] },
    );
    t.same(
      ids(broken.findings),
      [],
      'a template that is not TOML once neutralised is skipped, not GRA004',
    );
    t.match(broken.notes[0], /Helm template/);
    const invalid = checkChartValues(
      { runners: { config: '[[runners]\n' } },
      { object: file, host: 'x', prefix: [] },
    );
    t.same(
      ids(invalid.findings),
      ['GRA004'],
      'a config with no template actions that is not TOML is GRA004',
    );
  },
);

t.test('a token set in runners.config (umbrella chart values)', async (t) => {
  const ev = checkChartValuesText(read('values-umbrella.yaml'), {
    object: file,
    host: 'this values file',
  })!;
  t.same(ids(ev.findings), ['GRA001', 'GRA005', 'GRA505']);
  t.equal(ev.findings.find((f) => f.ruleId === 'GRA001')?.line, 8);
  t.equal(ev.findings.find((f) => f.ruleId === 'GRA505')?.field, 'gitlab-runner.runnerToken');
  t.same(
    ev.credentials.map((c) => c.url),
    ['https://gitlab.example.com'],
    'gitlabUrl + runnerToken is a pair to verify online',
  );
});

t.test(
  'Flux HelmRelease and Argo CD Application/ApplicationSet of the gitlab-runner chart',
  async (t) => {
    const hr = evaluateObject(parse(read('helmrelease.yaml')));
    t.ok(hr.relevant);
    t.same(ids(hr.findings), ['GRA007', 'GRA501', 'GRA505']);
    t.equal(hr.findings.find((f) => f.ruleId === 'GRA501')?.field, 'spec.values.runnerToken');
    t.equal(
      hr.findings.find((f) => f.ruleId === 'GRA007')?.line,
      4,
      'TOML line inside runners.config',
    );

    const app = evaluateObject(parse(read('argocd-application.yaml')));
    t.same(ids(app.findings), ['GRA501', 'GRA505']);
    t.equal(app.findings[0]?.field, 'spec.source.helm.values');
    t.equal(app.findings[0]?.line, 2, 'line inside the helm.values string');

    const set = evaluateObject(parse(read('argocd-applicationset.yaml')));
    t.same(ids(set.findings), ['GRA502', 'GRA505']);
    t.equal(
      set.findings[0]?.field,
      'spec.template.spec.sources[1].helm.valuesObject.runnerRegistrationToken',
    );

    t.notOk(
      evaluateObject(parse(read('argocd-other-chart.yaml'))).relevant,
      'another chart passes untouched',
    );
    const noValues = evaluateObject({
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: 'r' },
      spec: { chart: { spec: { chart: 'gitlab-runner' } } },
    });
    t.ok(noValues.relevant);
    t.same(noValues.findings, []);
    t.notOk(
      evaluateObject({
        apiVersion: 'example.com/v1',
        kind: 'HelmRelease',
        spec: {
          chart: { spec: { chart: 'gitlab-runner' } },
          values: { runnerToken: 'GR1348941Zq8vLm2XcT4pWb7nKd9s' },
        },
      }).relevant,
      'another API group',
    );
    t.same(
      evaluateObject({
        kind: 'HelmRelease',
        spec: {
          chart: { spec: { chart: 'gitlab-runner' } },
          values: { gitlabUrl: 'https://g', runnerToken: 'glrt-Ab3dE6gH9jK2mN5pQ8sT' },
        },
      }).credentials.map((c) => c.url),
      ['https://g'],
    );
  },
);

t.test('check: values files, GitOps objects and compose files, with file lines', async (t) => {
  const r = await check([path.join(dir, 'values-swapped.yaml')]);
  t.equal(r.code, 1, 'the issue\'s values file is no longer "ok"');
  t.match(r.out, /values-swapped\.yaml:10: deny GRA501 /);
  t.match(r.out, /values-swapped\.yaml:25: warn GRA007 /);
  const ok = await check([path.join(dir, 'values-good.yaml')]);
  t.equal(ok.code, 0);
  const app = await check([path.join(dir, 'argocd-application.yaml')]);
  t.match(app.out, /argocd-application\.yaml:18: deny GRA501 Application argocd\/gitlab-runner/);
  const hr = await check([path.join(dir, 'helmrelease.yaml')]);
  t.match(hr.out, /helmrelease\.yaml:18: deny GRA501 /);
  t.match(
    hr.out,
    /helmrelease\.yaml:26: warn GRA007 /,
    'TOML line mapped through the | block of spec.values.runners.config',
  );
  const compose = await check([path.join(dir, 'docker-compose.yml')]);
  t.equal(compose.code, 0);
  t.match(compose.out, /docker-compose\.yml: skipped: not a Kubernetes manifest/);
  t.match(compose.out, /0 files checked, 1 file skipped/);
});

t.test(
  'check links objects of one run: GRA211 offline, and says which object was used',
  async (t) => {
    const one = await check(['-v', path.join(dir, 'linked-placeholder.yaml')]);
    t.equal(one.code, 1);
    t.match(one.out, /linked-placeholder\.yaml:\d+: deny GRA211 Deployment ci\/gitlab-runner/);
    t.match(one.out, /linked ConfigMap ci\/gitlab-runner-config \(.*linked-placeholder\.yaml:3\)/);

    const two = await check([
      path.join(dir, 'linked-placeholder.yaml'),
      path.join(dir, 'linked-other-config.yaml'),
    ]);
    t.match(
      two.out,
      /ambiguous, defined 2 times \(.*linked-placeholder\.yaml:3, .*linked-other-config\.yaml:2\); used .*linked-placeholder\.yaml:3/,
    );
    t.match(two.out, /GRA211/, 'the first definition is used');

    const stdin = readFileSync(path.join(dir, 'linked-placeholder.yaml'));
    const c = { out: '' };
    const code = await runCheck(['-'], {
      stdout: (s) => void (c.out += s),
      stderr: () => {},
      readStdin: async () => stdin,
      isTTY: false,
      env: {},
    });
    t.equal(code, 1, '`helm template … | check -` links too');
    t.match(c.out, /deny GRA211 Deployment ci\/gitlab-runner/);

    const other = await check([path.join(dir, 'linked-other-config.yaml')]);
    t.notMatch(other.out, /GRA211/, 'a ConfigMap alone: no workload, no GRA211');
  },
);

t.test(
  'online verification: gitlabUrl + runnerToken of a HelmRelease/Application go to the verifier in the webhook pipeline',
  async (t) => {
    const { parseReview } = await import('../../src/admission/review.js');
    const { validateRequest } = await import('../../src/admission/validate.js');
    const { createVerifier } = await import('../../src/gitlab/verifier.js');
    const { review } = await import('../helpers/server.js');
    const pino = (await import('pino')).default;
    const asked: string[] = [];
    const fetch = async (url: string, init: { body: string }) => {
      asked.push(`${url} ${(JSON.parse(init.body) as { token: string }).token.slice(0, 5)}`);
      return { status: 403, text: async () => '{"message":"403 Forbidden"}' };
    };
    const verifier = createVerifier(
      { verify: true, allowlist: ['https://gitlab.example.com'], budgetMs: 2000 },
      pino({ level: 'silent' }),
      { fetch },
    );
    t.teardown(() => verifier.close());
    const values = {
      gitlabUrl: 'https://gitlab.example.com',
      runnerToken: 'glrt-Ab3dE6gH9jK2mN5pQ8sT',
      runners: { secret: '' },
    };
    const hr = {
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: 'gitlab-runner', namespace: 'ci' },
      spec: { chart: { spec: { chart: 'gitlab-runner' } }, values },
    };
    const app = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'gitlab-runner', namespace: 'argocd' },
      spec: {
        source: {
          chart: 'gitlab-runner',
          repoURL: 'https://charts.gitlab.io',
          helm: { values: `gitlabUrl: ${values.gitlabUrl}\nrunnerToken: ${values.runnerToken}\n` },
        },
      },
    };
    for (const obj of [hr, app]) {
      const body = review(obj);
      body.request.kind.group = obj.apiVersion.split('/')[0];
      const p = parseReview(body);
      if (!p.ok) throw new Error(p.reason);
      const out = await validateRequest(p.request, 'enforce', { verifier }, Date.now() + 2000);
      t.equal(out.decision, 'deny', `${obj.kind}: a token GitLab rejects is denied`);
      t.ok(out.ruleIds.includes('GRA301'), `${obj.kind}: GRA301`);
      t.notMatch(
        JSON.stringify(out.response),
        /Ab3dE6gH9jK2mN5pQ8sT/,
        'no whole token in the response',
      );
    }
    t.same(
      asked,
      ['https://gitlab.example.com/api/v4/runners/verify glrt-'],
      'one call: the second review was answered from the cache',
    );
  },
);
