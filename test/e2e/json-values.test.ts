import t from 'tap';
import { review, startTestServer } from '../helpers/server.js';
import { REGISTRATION_TOKEN } from '../helpers/hostile.mjs';

/**
 * GRA_MAX_JSON_VALUES over HTTPS: a large body that is mostly punctuation is answered at once, as
 * the failurePolicy would, saying why, and never parsed; one just under the limit is checked.
 */

const srv = await startTestServer({ GRA_MAX_JSON_VALUES: '20000', GRA_INLINE_BODY_BYTES: '1024' });
t.teardown(() => srv.close());

const configMap = (n: number) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'dense', namespace: 'ci' },
  pad: new Array(n).fill({}),
  data: {
    'config.toml': `[[runners]]\n  url = "https://gitlab.example.com"\n  token = "${REGISTRATION_TOKEN}"\n  executor = "shell"\n`,
  },
});

t.test('over the limit: denied unparsed, with the reason and the uid', async (t) => {
  const body = review(configMap(30_000));
  const r = await srv.post('/validate', body);
  t.equal(r.status, 200);
  t.equal(r.json.response.uid, body.request.uid);
  t.equal(r.json.response.allowed, false);
  t.match(
    r.json.response.status.message,
    /was not checked: it holds more JSON values than any runner config or workload needs \(GRA_MAX_JSON_VALUES\)/,
  );
  t.notMatch(r.json.response.status.message, new RegExp(REGISTRATION_TOKEN));
  const m = await srv.started.metrics.registry.metrics();
  t.match(m, /reviews_cut_total\{webhook="validate",reason="values"\} 1/);
});

t.test('under it: checked in full on a worker', async (t) => {
  // the first large body starts the worker, which under the test's TypeScript loader takes
  // seconds to load; until it has, reviews are cut by time
  let r = await srv.post('/validate', review(configMap(8_000)));
  for (
    let i = 0;
    i < 40 && /within the per-review time budget/.test(r.json.response.status.message);
    i++
  ) {
    await new Promise((res) => setTimeout(res, 500));
    r = await srv.post('/validate', review(configMap(8_000)));
  }
  t.equal(r.json.response.allowed, false);
  t.match(r.json.response.status.message, /GRA0\d\d/, 'the rule the config breaks');
});
