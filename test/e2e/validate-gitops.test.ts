import t from 'tap';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { startTestServer, review } from '../helpers/server.js';
import { fixturesDir } from '../helpers/fixtures.js';

/**
 * GitOps objects at admission time, over real HTTPS: a Flux HelmRelease or Argo CD Application
 * of the gitlab-runner chart whose values would put a registration token in `runnerToken` is
 * refused when it is applied, before anything renders; another chart passes untouched.
 */

const srv = await startTestServer();
t.teardown(() => srv.close());
const fixture = (f: string) =>
  parse(readFileSync(path.join(fixturesDir, 'chartvalues', f), 'utf8'));

function gitopsReview(obj: { apiVersion: string; kind: string }) {
  const body = review(obj);
  const group = obj.apiVersion.split('/')[0]!;
  const resource = obj.kind.toLowerCase() + 's';
  body.request.kind = { group, version: obj.apiVersion.split('/')[1], kind: obj.kind };
  body.request.resource = { group, version: obj.apiVersion.split('/')[1], resource };
  return body;
}

for (const f of ['helmrelease.yaml', 'argocd-application.yaml']) {
  t.test(`${f}: denied at apply time with GRA501, token redacted`, async (t) => {
    const res = await srv.post('/validate?timeout=10s', gitopsReview(fixture(f)));
    t.equal(res.status, 200);
    t.equal(res.json.response.allowed, false);
    t.match(
      res.json.response.status.message,
      /\[GRA501\] spec\.(values\.runnerToken|source\.helm\.values, line 2): `runnerToken` holds GR1348941…Kd9s/,
    );
    t.notMatch(JSON.stringify(res.json), /Zq8vLm2XcT4pWb7nKd9s/);
    t.ok(
      res.json.response.warnings?.some((w: string) => w.startsWith('GRA505')),
      'the inline-token warning',
    );
  });
}

t.test('an Application of another chart, and a HelmRelease in warn mode', async (t) => {
  const other = await srv.post(
    '/validate?timeout=10s',
    gitopsReview(fixture('argocd-other-chart.yaml')),
  );
  t.equal(other.json.response.allowed, true);
  t.notOk(other.json.response.warnings, 'untouched');
  const warn = await srv.post(
    '/validate/warn?timeout=10s',
    gitopsReview(fixture('argocd-applicationset.yaml')),
  );
  t.equal(warn.json.response.allowed, true);
  t.ok(warn.json.response.warnings?.some((w: string) => w.startsWith('GRA502')));
});
