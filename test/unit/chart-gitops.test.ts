/**
 * The chart's opt-in GitOps webhook rules (webhook.gitops): the rules and the CEL condition
 * that lets only HelmRelease/Application/ApplicationSet objects of the gitlab-runner chart
 * reach the webhook, evaluated with @marcbachmann/cel-js on the exact file the template reads.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { Environment } from '@marcbachmann/cel-js';
import { evaluateObject } from '../../src/rules/evaluate.js';
import { fixturesDir } from '../helpers/fixtures.js';

const chartDir = path.resolve(import.meta.dirname, '../../charts/gitlab-runner-admission');
const expr = fs.readFileSync(path.join(chartDir, 'cel/gitops.cel'), 'utf8').trim();
const env = new Environment()
  .registerVariable('object', 'dyn')
  .registerVariable('oldObject', 'dyn')
  .registerVariable('request', 'dyn');
const cond = env.parse(expr);
const fixture = (f: string) =>
  parse(fs.readFileSync(path.join(fixturesDir, 'chartvalues', f), 'utf8'));

function reaches(resource: string, object: unknown): boolean {
  const r = cond({
    request: { resource: { group: '', version: 'v1', resource } },
    object,
    oldObject: null,
  });
  if (typeof r !== 'boolean') throw new Error(`gitops.cel returned ${typeof r}`);
  return r;
}

t.test('gitops.cel type-checks to bool and is one line', async (t) => {
  const r = env.check(expr);
  t.ok(r.valid, r.error?.message ?? '');
  t.equal(String(r.type), 'bool');
  t.notMatch(expr, /\n/);
});

t.test(
  'only GitOps objects of the gitlab-runner chart reach the webhook; everything else is untouched',
  async (t) => {
    for (const [f, resource] of [
      ['helmrelease.yaml', 'helmreleases'],
      ['argocd-application.yaml', 'applications'],
      ['argocd-applicationset.yaml', 'applicationsets'],
    ] as const) {
      const obj = fixture(f);
      t.ok(reaches(resource, obj), `${f} reaches the webhook`);
      t.ok(evaluateObject(obj).relevant, `${f}: and the webhook checks it`);
    }
    t.notOk(
      reaches('applications', fixture('argocd-other-chart.yaml')),
      'another chart is not sent',
    );
    t.notOk(reaches('helmreleases', { spec: { chart: { spec: { chart: 'ingress-nginx' } } } }));
    t.ok(
      reaches('applications', {
        spec: {
          source: { repoURL: 'https://git.example.com/infra.git', path: 'charts/gitlab-runner/' },
        },
      }),
      'a chart from git by path',
    );
    for (const broken of [
      null,
      {},
      { spec: {} },
      { spec: { sources: [{}] } },
      { spec: { template: {} } },
      { spec: { chart: {} } },
    ]) {
      for (const res of ['helmreleases', 'applications', 'applicationsets'])
        t.equal(reaches(res, broken), false, `${res} ${JSON.stringify(broken)}: false, no error`);
    }
    t.ok(
      reaches('configmaps', { data: {} }),
      'other resources pass this condition (the other conditions judge them)',
    );
  },
);

t.test('the rules and the condition are added only with webhook.gitops', async (t) => {
  const tpl = fs.readFileSync(path.join(chartDir, 'templates/_webhook.tpl'), 'utf8');
  t.match(
    tpl,
    /\{\{- if \.Values\.webhook\.gitops \}\}\n\s+- apiGroups: \["helm\.toolkit\.fluxcd\.io"\][\s\S]*?resources: \["helmreleases"\][\s\S]*?apiGroups: \["argoproj\.io"\][\s\S]*?resources: \["applications", "applicationsets"\][\s\S]*?\{\{- end \}\}/,
  );
  t.match(
    tpl,
    /if \$root\.Values\.webhook\.gitops \}\}\n\s+\{\{- include "gra\.matchConditions" \(dict "root" \$root "names" \(list "configmap" "secret" "workload" "gitops"\)\)/,
  );
  const values = parse(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  t.equal(values.webhook.gitops, false, 'opt-in');
});
