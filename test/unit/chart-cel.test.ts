/**
 * The chart's CEL matchConditions, evaluated with @marcbachmann/cel-js on the exact strings the
 * templates render (cel/*.cel, read by `.Files.Get ... | trim | toJson`). What must hold:
 * - every runner config and runner workload reaches the webhook (a false negative silently
 *   switches the product off for that object);
 * - ordinary ConfigMaps, Secrets and workloads do not (the point of the conditions);
 * - no object shape the apiserver can send makes an expression fail: an evaluation error with
 *   failurePolicy Fail rejects the request (KEP-3716, "matchConditions" error semantics).
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { isRunnerConfig } from '../../src/config/index.js';
import { evaluateObject } from '../../src/rules/evaluate.js';

const repo = path.resolve(import.meta.dirname, '../..');
const chartDir = path.join(repo, 'charts/gitlab-runner-admission');
const fixtures = path.join(repo, 'test/fixtures');
const corpus = path.resolve(import.meta.dirname, '../../../shared/corpus');

type Obj = Record<string, unknown>;
interface Request {
  operation: string;
  resource: { group: string; version: string; resource: string };
  kind: { kind: string };
}

const CONDITION_FILES = ['configmap', 'secret', 'workload'] as const;
const expressions = Object.fromEntries(
  CONDITION_FILES.map((n) => [
    n,
    fs.readFileSync(path.join(chartDir, `cel/${n}.cel`), 'utf8').trim(),
  ]),
) as Record<(typeof CONDITION_FILES)[number], string>;

// Kubernetes gives matchConditions `object`, `oldObject` and `request` as dynamic values.
const env = new Environment()
  .registerVariable('object', 'dyn')
  .registerVariable('oldObject', 'dyn')
  .registerVariable('request', 'dyn');
const compiled = Object.fromEntries(
  CONDITION_FILES.map((n) => [n, env.parse(expressions[n])]),
) as Record<(typeof CONDITION_FILES)[number], ParseResult>;

/** What the apiserver does: the webhook is called only when every condition is true. */
function reachesValidating(request: Request, object: unknown): boolean {
  const ctx = { request, object, oldObject: null };
  return CONDITION_FILES.every((n) => {
    const r = compiled[n](ctx);
    if (typeof r !== 'boolean') throw new Error(`${n}.cel returned ${typeof r}`);
    return r;
  });
}
function reachesMutating(request: Request, object: unknown): boolean {
  const r = compiled.workload({ request, object, oldObject: null });
  if (typeof r !== 'boolean') throw new Error(`workload.cel returned ${typeof r}`);
  return r;
}

const PLURAL: Record<string, [string, string]> = {
  ConfigMap: ['', 'configmaps'],
  Secret: ['', 'secrets'],
  Pod: ['', 'pods'],
  Deployment: ['apps', 'deployments'],
  StatefulSet: ['apps', 'statefulsets'],
  DaemonSet: ['apps', 'daemonsets'],
};
function requestFor(kind: string, operation = 'CREATE'): Request {
  const [group, resource] = PLURAL[kind]!;
  return { operation, resource: { group, version: 'v1', resource }, kind: { kind } };
}

/**
 * The object as a webhook receives it, not as written in YAML: the apiserver decodes into typed
 * structs and re-encodes, so a `key:` with no value (YAML null) arrives as "" in a
 * map[string]string, and Secret stringData arrives merged into data as base64
 * (fixtures/admission/README.md).
 */
function asAdmitted(o: Obj): Obj {
  const out: Obj = { ...o };
  for (const field of ['data', 'binaryData', 'stringData']) {
    if (out[field] && typeof out[field] === 'object') {
      out[field] = Object.fromEntries(
        Object.entries(out[field] as Obj).map(([k, v]) => [k, v == null ? '' : String(v)]),
      );
    }
  }
  if (o.kind !== 'Secret' || !out.stringData) return out;
  const data = { ...((out.data as Record<string, string>) ?? {}) };
  for (const [k, v] of Object.entries(out.stringData as Record<string, string>))
    data[k] = Buffer.from(v).toString('base64');
  delete out.stringData;
  return { ...out, data };
}

/** A Secret whose data is not base64 is rejected by the apiserver while decoding, before admission. */
function apiserverAccepts(o: Obj): boolean {
  if (o.kind !== 'Secret') return true;
  return Object.values((o.data as Record<string, string>) ?? {}).every(
    (v) => /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0,
  );
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

t.test('expressions type-check as bool and are what the templates render', async (t) => {
  for (const n of CONDITION_FILES) {
    const r = env.check(expressions[n]);
    t.ok(r.valid, `${n}.cel type-checks: ${r.error?.message ?? ''}`);
    t.equal(String(r.type), 'bool', `${n}.cel is a bool`);
    // multi-line with `//` comments: CEL's own comment syntax, which the apiserver (cel-go) parses
    t.match(expressions[n], /^\/\/ /m, `${n}.cel says what it does in comments`);
  }
  const wh = fs.readFileSync(path.join(chartDir, 'templates/_webhook.tpl'), 'utf8');
  t.match(
    wh,
    /expression: \{\{ \$\.root\.Files\.Get \(printf "cel\/%s\.cel" \.\) \| trim \| toJson \}\}/,
  );
  const v = fs.readFileSync(path.join(chartDir, 'templates/_webhook.tpl'), 'utf8');
  const m = fs.readFileSync(
    path.join(chartDir, 'templates/mutatingwebhookconfiguration.yaml'),
    'utf8',
  );
  t.match(
    v,
    /"names" \(list "configmap" "secret" "workload"\)/,
    'validating webhooks use all three',
  );
  t.match(m, /"names" \(list "workload"\)/, 'mutating webhook uses the workload condition');
});

t.test('every real AdmissionReview in the fixtures reaches the validating webhook', async (t) => {
  const dir = path.join(fixtures, 'admission');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  t.ok(files.length >= 10, `${files.length} captured reviews`);
  for (const f of files) {
    const review = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as {
      request?: Obj;
    } & Obj;
    const req = (review.request ?? review) as Obj & Request;
    if (req.operation === 'DELETE') {
      // Not in the webhook rules; still must not error (object is null).
      t.doesNotThrow(
        () => reachesValidating(req, req.object),
        `${f}: DELETE evaluates without error`,
      );
      t.equal(
        reachesValidating(req, req.object),
        false,
        `${f}: DELETE with a null object is not sent`,
      );
      continue;
    }
    t.equal(reachesValidating(req, req.object), true, `${f} reaches /validate`);
    if (['deployments', 'statefulsets', 'daemonsets', 'pods'].includes(req.resource.resource)) {
      t.equal(reachesMutating(req, req.object), true, `${f} reaches /mutate`);
    }
  }
});

t.test('every seed manifest reaches the webhook', async (t) => {
  const dir = path.join(fixtures, 'seed');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  t.ok(files.length >= 6);
  for (const f of files) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))) {
      const o = asAdmitted(doc.toJS() as Obj);
      t.equal(reachesValidating(requestFor(String(o.kind)), o), true, `${f} (${String(o.kind)})`);
    }
  }
});

const cm = (data: Record<string, string>, extra: Obj = {}): Obj => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'x', namespace: 'ns' },
  data,
  ...extra,
});
const secret = (data: Record<string, string>, type = 'Opaque'): Obj => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'x', namespace: 'ns' },
  type,
  data,
});
const container = (c: Obj): Obj => ({ name: 'c', ...c });
const deployment = (spec: Obj, kind = 'Deployment'): Obj => ({
  apiVersion: 'apps/v1',
  kind,
  metadata: { name: 'x', namespace: 'ns' },
  spec: {
    selector: { matchLabels: { a: 'b' } },
    template: { metadata: { labels: { a: 'b' } }, spec },
  },
});
const pod = (spec: Obj): Obj => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'x', namespace: 'ns' },
  spec,
});

t.test('runner configs and workloads of other shapes reach the webhook', async (t) => {
  const positives: Array<[string, Obj]> = [
    [
      'config.toml with [[runners]]',
      cm({ 'config.toml': 'concurrent = 1\n[[runners]]\n  token = "x"\n' }),
    ],
    [
      '[[ runners ]] with spaces (valid TOML)',
      cm({ 'config.toml': '[[ runners ]]\n  token = "x"\n' }),
    ],
    [
      'config.template.toml',
      cm({ 'config.template.toml': '[[runners]]\n  [runners.kubernetes]\n' }),
    ],
    ['inline runners array in a .toml key', cm({ 'config.toml': 'runners = [{ token = "x" }]\n' })],
    // gitlab-runner matches keys case-insensitively (Unicode folding) and decodes escapes: only
    // the parser can tell, so every .toml key reaches the webhook (issue 12)
    ['[[RUNNERS]]', cm({ 'config.toml': '[[RUNNERS]]\n  token = "x"\n' })],
    ['escaped quoted header', cm({ 'config.toml': '[["\\u0072unners"]]\n  token = "x"\n' })],
    ['long s header', cm({ 'config.toml': '[["runner\u017f"]]\n  token = "x"\n' })],
    [
      'config.toml in binaryData',
      cm({}, { data: undefined, binaryData: { 'config.toml': b64('[[runners]]') } }),
    ],
    ['Secret with config.toml', secret({ 'config.toml': b64('[[runners]]\n token = "glrt-x"\n') })],
    ['Secret with chart key runner-token', secret({ 'runner-token': '' })],
    [
      'Secret with chart key runner-registration-token',
      secret({ 'runner-registration-token': b64('GR1348941aaaaaaaaaaaaaaaaaaaa') }),
    ],
    ['Secret with env-style key for envFrom', secret({ CI_SERVER_TOKEN: b64('anything') })],
    [
      'Secret: registration token under an arbitrary key',
      secret({ token: b64('GR1348941aaaaaaaaaaaaaaaaaaaa') }),
    ],
    [
      'Secret: glrt- token under an arbitrary key',
      secret({ token: b64('glrt-aaaaaaaaaaaaaaaaaaaa') }),
    ],
    ['Secret: glrt-t1_ token', secret({ token: b64('glrt-t1_aaaaaaaaaaaaaaaaaaaa') })],
    ['Secret: glrtr- token', secret({ t: b64('glrtr-aaaaaaaaaaaaaaaaaaaa') })],
    ['Secret: t1_ token', secret({ t: b64('t1_aaaaaaaaaaaaaaaaaaaa') })],
    ['Secret: t2_ token', secret({ t: b64('t2_aaaaaaaaaaaaaaaaaaaa') })],
    ['Secret: t3_ token', secret({ t: b64('t3_aaaaaaaaaaaaaaaaaaaa') })],
    [
      'Secret: glrt- token with a trailing newline (echo without -n)',
      secret({ t: b64('glrt-aaaaaaaaaaaaaaaaaaaa\n') }),
    ],
    [
      'Deployment running the official image',
      deployment({
        containers: [container({ image: 'gitlab/gitlab-runner:v17.11.0', args: ['run'] })],
      }),
    ],
    [
      'image from GitLab registry',
      deployment({
        containers: [container({ image: 'registry.gitlab.com/gitlab-org/gitlab-runner:alpine' })],
      }),
    ],
    [
      'custom image, command names the binary',
      deployment({
        containers: [container({ image: 'corp/ci:1', command: ['/usr/bin/gitlab-runner', 'run'] })],
      }),
    ],
    [
      'custom image, shell script in args',
      deployment({
        containers: [
          container({
            image: 'corp/ci:1',
            command: ['sh', '-c'],
            args: ['gitlab-runner register && gitlab-runner run'],
          }),
        ],
      }),
    ],
    [
      'old binary name gitlab-ci-multi-runner',
      deployment({
        containers: [
          container({ image: 'corp/ci:1', command: ['/usr/bin/gitlab-ci-multi-runner', 'run'] }),
        ],
      }),
    ],
    [
      'runner only in an initContainer',
      deployment({
        initContainers: [
          container({ image: 'gitlab/gitlab-runner:v17', command: ['gitlab-runner', 'register'] }),
        ],
        containers: [container({ image: 'busybox' })],
      }),
    ],
    [
      'custom image with the runner token variable',
      deployment({
        containers: [
          container({
            image: 'corp/ci:1',
            env: [
              {
                name: 'CI_SERVER_TOKEN',
                valueFrom: { secretKeyRef: { name: 's', key: 'runner-token' } },
              },
            ],
          }),
        ],
      }),
    ],
    [
      'StatefulSet',
      deployment(
        { containers: [container({ image: 'gitlab/gitlab-runner:latest' })] },
        'StatefulSet',
      ),
    ],
    [
      'DaemonSet',
      deployment(
        { containers: [container({ image: 'gitlab/gitlab-runner:latest' })] },
        'DaemonSet',
      ),
    ],
    [
      'bare Pod (pod mode)',
      pod({ containers: [container({ image: 'gitlab/gitlab-runner:alpine-v17.11.0' })] }),
    ],
  ];
  for (const [name, o] of positives) {
    const obj = JSON.parse(JSON.stringify(o)) as Obj; // drop undefined like JSON on the wire
    t.equal(reachesValidating(requestFor(String(obj.kind), 'UPDATE'), obj), true, name);
    if (obj.kind !== 'ConfigMap' && obj.kind !== 'Secret')
      t.equal(reachesMutating(requestFor(String(obj.kind)), obj), true, `${name} (mutating)`);
  }
});

t.test('ordinary objects never reach the webhook', async (t) => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const negatives: Array<[string, Obj]> = [
    ['kube-root-ca.crt', cm({ 'ca.crt': pem })],
    [
      'ConfigMap without data',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'empty' } },
    ],
    ['empty data', cm({})],
    // the webhook reads *.toml keys only (runnerConfigOf in src/rules/evaluate.ts): sending this
    // would buy a call that always answers "allowed, not a runner config"
    ['[[runners]] under a key without .toml', cm({ config: '[[runners]]\n  token = "x"\n' })],
    [
      'application config',
      cm({ 'application.yaml': 'server:\n  port: 8080\n', LOG_LEVEL: 'debug' }),
    ],
    [
      'binaryData that is not TOML',
      cm({}, { data: undefined, binaryData: { 'logo.png': 'iVBORw0KGgo=' } }),
    ],
    [
      'nginx config mentioning a runner in prose',
      cm({ 'nginx.conf': '# proxies the CI runner\nserver { listen 80; }\n' }),
    ],
    [
      'TLS Secret',
      secret(
        { 'tls.crt': b64(pem), 'tls.key': b64('-----BEGIN PRIVATE KEY-----\n') },
        'kubernetes.io/tls',
      ),
    ],
    ['Helm release Secret', secret({ release: 'SDRzSUFBQUFBQUFDLyt5OWE=' }, 'helm.sh/release.v1')],
    [
      'docker config Secret',
      secret({ '.dockerconfigjson': b64('{"auths":{}}') }, 'kubernetes.io/dockerconfigjson'),
    ],
    [
      'service account token Secret',
      secret(
        { token: b64('eyJhbGciOiJSUzI1NiJ9.x.y'), 'ca.crt': b64(pem), namespace: b64('default') },
        'kubernetes.io/service-account-token',
      ),
    ],
    [
      'Secret with a GitLab personal access token (not a runner token)',
      secret({ GITLAB_TOKEN: b64('glpat-aaaaaaaaaaaaaaaaaaaa') }),
    ],
    [
      'Secret without data',
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, type: 'Opaque' },
    ],
    [
      'nginx Deployment',
      deployment({
        containers: [container({ image: 'nginx:1.27', args: ['nginx', '-g', 'daemon off;'] })],
      }),
    ],
    [
      'Deployment with an unrelated initContainer',
      deployment({
        initContainers: [container({ image: 'busybox', command: ['sh', '-c', 'sleep 1'] })],
        containers: [
          container({
            image: 'app:1',
            env: [{ name: 'GITLAB_URL', value: 'https://gitlab.example.com' }],
          }),
        ],
      }),
    ],
    [
      'postgres StatefulSet',
      deployment(
        {
          containers: [
            container({
              image: 'postgres:16',
              env: [
                {
                  name: 'POSTGRES_PASSWORD',
                  valueFrom: { secretKeyRef: { name: 'pg', key: 'pw' } },
                },
              ],
            }),
          ],
        },
        'StatefulSet',
      ),
    ],
    [
      'fluent-bit DaemonSet',
      deployment({ containers: [container({ image: 'fluent/fluent-bit:3' })] }, 'DaemonSet'),
    ],
    [
      'busybox Pod',
      pod({ containers: [container({ image: 'busybox', command: ['sleep', '3600'] })] }),
    ],
  ];
  for (const [name, o] of negatives) {
    const obj = JSON.parse(JSON.stringify(o)) as Obj;
    t.equal(reachesValidating(requestFor(String(obj.kind)), obj), false, name);
    if (obj.kind !== 'ConfigMap' && obj.kind !== 'Secret')
      t.equal(reachesMutating(requestFor(String(obj.kind)), obj), false, `${name} (mutating)`);
  }
});

t.test(
  'a condition lets other resources through, so conditions can be ANDed on one webhook',
  async (t) => {
    const deploy = deployment({ containers: [container({ image: 'gitlab/gitlab-runner:v17' })] });
    const ctx = (resource: string, object: Obj) => ({
      request: { ...requestFor('ConfigMap'), resource: { group: '', version: 'v1', resource } },
      object,
      oldObject: null,
    });
    t.equal(compiled.configmap(ctx('deployments', deploy)), true);
    t.equal(compiled.secret(ctx('deployments', deploy)), true);
    t.equal(compiled.workload(ctx('configmaps', cm({ a: 'b' }))), true);
    t.equal(compiled.secret(ctx('configmaps', cm({ a: 'b' }))), true);
    t.equal(compiled.configmap(ctx('secrets', secret({ a: 'b' }))), true);
  },
);

/**
 * Reference predicate for "runner object" in plain JS, following facts §5 (a data key ending in
 * .toml that holds [[runners]]; a container whose image or command is gitlab-runner), plus the
 * chart's Secret key names. The CEL must be true wherever this is.
 */
function referenceIsRunner(o: Obj): boolean {
  const str = (x: unknown) => (typeof x === 'string' ? x : '');
  if (o.kind === 'ConfigMap') {
    return Object.entries((o.data as Obj) ?? {}).some(
      ([k, v]) => k.endsWith('.toml') && isRunnerConfig(str(v)),
    );
  }
  if (o.kind === 'Secret') {
    return Object.entries((o.data as Obj) ?? {}).some(
      ([k, v]) =>
        ['runner-token', 'runner-registration-token'].includes(k) ||
        (k.endsWith('.toml') && isRunnerConfig(Buffer.from(str(v), 'base64').toString('utf8'))),
    );
  }
  const spec = (((o.spec as Obj)?.template as Obj)?.spec as Obj) ?? (o.spec as Obj);
  const cs = [...((spec?.containers as Obj[]) ?? []), ...((spec?.initContainers as Obj[]) ?? [])];
  return cs.some((c) =>
    [c.image, ...((c.command as unknown[]) ?? []), ...((c.args as unknown[]) ?? [])].some((x) =>
      /gitlab-(ci-multi-)?runner/.test(str(x)),
    ),
  );
}

t.test(
  'public corpus: every runner object reaches the webhook, and every file that warns or denies',
  { skip: !fs.existsSync(corpus) && `no corpus at ${corpus} (plain clone)` },
  async (t) => {
    const index = fs
      .readFileSync(path.join(corpus, 'INDEX.tsv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'));
    let objects = 0;
    for (const [file, , , , verdict] of index) {
      if (!file!.startsWith('k8s/') || !/\.ya?ml$/.test(file!)) continue;
      let docs: Obj[];
      try {
        docs = parseAllDocuments(fs.readFileSync(path.join(corpus, file!), 'utf8'))
          .map((d) => d.toJS() as Obj)
          .filter(Boolean);
      } catch {
        continue; // files whose YAML does not parse never reach an apiserver
      }
      // OpenShift Templates and similar wrap objects in `objects:`; the apiserver only sees them after processing.
      const flat = docs.flatMap((d) => (Array.isArray(d.objects) ? (d.objects as Obj[]) : [d]));
      const k8s = flat
        .filter((d) => typeof d.kind === 'string' && PLURAL[d.kind as string])
        .map(asAdmitted)
        .filter(apiserverAccepts);
      let any = false;
      for (const o of k8s) {
        objects++;
        const reached = reachesValidating(requestFor(String(o.kind)), o);
        any ||= reached;
        if (referenceIsRunner(o))
          t.equal(reached, true, `${file}: ${String(o.kind)} ${String((o.metadata as Obj)?.name)}`);
      }
      if ((verdict === 'warn' || verdict === 'deny') && k8s.length > 0)
        t.ok(any, `${file} (${verdict}) has an object that reaches the webhook`);
    }
    t.ok(objects >= 15, `${objects} Kubernetes objects checked`);
  },
);

t.test(
  'every ConfigMap the webhook would act on reaches it (configmap.cel reads keys only)',
  async (t) => {
    const text = fc.oneof(
      fc.string(),
      fc.constantFrom(
        '[[runners]]\n  token = "GR1348941aaaaaaaaaaaaaaaaaaaa"\n',
        '[[RUNNERS]]\n  token = "x"\n',
        '[["\\u0072unners"]]\n  token = "x"\n',
        'runners = [{ token = "glrt-aaaaaaaaaaaaaaaaaaaa" }]\n',
        'concurrent = 4\n',
        '[[runners\n',
        'worker_processes auto;\n',
      ),
    );
    const key = fc.oneof(
      fc.string(),
      fc.constantFrom('config.toml', 'config.template.toml', 'a.TOML', 'config', 'toml', '.toml'),
    );
    const data = fc.dictionary(key, text, { maxKeys: 4 });
    let relevant = 0;
    fc.assert(
      fc.property(data, data, fc.boolean(), (d, bin, useBin) => {
        const o: Obj = cm(d, useBin ? { binaryData: mapValues(bin, b64) } : {});
        const acted = evaluateObject(o, { kind: 'ConfigMap' }).relevant;
        if (acted) relevant++;
        return !acted || reachesValidating(requestFor('ConfigMap'), o);
      }),
      { numRuns: 1000 },
    );
    t.ok(relevant > 50, `${relevant} of 1000 random ConfigMaps are runner configs, all sent`);
  },
);

const mapValues = (m: Record<string, string>, f: (v: string) => string) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(v)]));

t.test('no object shape the apiserver can send makes a condition fail to evaluate', async (t) => {
  const str = fc.oneof(
    fc.string(),
    fc.constantFrom(
      'gitlab-runner',
      '[[runners]]',
      'config.toml',
      'R1IxMzQ4OTQx',
      'runner-token',
      '',
    ),
  );
  const strMap = fc.dictionary(
    fc.oneof(fc.string(), fc.constantFrom('config.toml', 'runner-token', 'a.toml')),
    str,
  );
  const cont = fc.record(
    {
      name: str,
      image: str,
      command: fc.array(str),
      args: fc.array(str),
      env: fc.array(fc.record({ name: str, value: str }, { requiredKeys: ['name'] })),
    },
    { requiredKeys: ['name'] },
  );
  const podSpec = fc.record(
    { containers: fc.array(cont), initContainers: fc.array(cont) },
    { requiredKeys: [] },
  );
  const meta = fc.record({ name: str, namespace: str, annotations: strMap }, { requiredKeys: [] });
  const objects = fc.oneof(
    fc.record(
      { kind: fc.constant('ConfigMap'), metadata: meta, data: strMap, binaryData: strMap },
      { requiredKeys: ['kind'] },
    ),
    fc.record(
      { kind: fc.constant('Secret'), metadata: meta, type: str, data: strMap },
      { requiredKeys: ['kind'] },
    ),
    fc.record(
      {
        kind: fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet'),
        metadata: meta,
        spec: fc.record(
          {
            replicas: fc.nat(),
            template: fc.record({ metadata: meta, spec: podSpec }, { requiredKeys: [] }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ['kind'] },
    ),
    fc.record(
      { kind: fc.constant('Pod'), metadata: meta, spec: podSpec },
      { requiredKeys: ['kind'] },
    ),
  );
  fc.assert(
    fc.property(objects, fc.constantFrom('CREATE', 'UPDATE'), (o, op) => {
      const req = requestFor(o.kind, op);
      const v = reachesValidating(req, o); // throws on an evaluation error or a non-bool
      const m = reachesMutating(req, o);
      return typeof v === 'boolean' && typeof m === 'boolean';
    }),
    { numRuns: 500 },
  );
  t.pass('500 random objects evaluated without error');
});

t.test(
  'secret.cel holds exactly the base64 of the runner token prefixes in src/tokens/prefixes.ts',
  async (t) => {
    const { RUNNER_TOKEN_PREFIXES, base64Prefix } = await import('../../src/tokens/prefixes.js');
    const { classifyToken } = await import('../../src/tokens/index.js');
    // the comments of the file name the prefixes; only the expression's string literals count
    const code = expressions.secret.replace(/\/\/.*$/gm, '');
    const inCel = [...code.matchAll(/startsWith\('([^']+)'\)/g)].map((m) => m[1]).sort();
    const expected = RUNNER_TOKEN_PREFIXES.map((p) => base64Prefix(p.prefix)).sort();
    t.same(inCel, expected, 'one startsWith per prefix, each the base64 its bytes decide');
    for (const p of RUNNER_TOKEN_PREFIXES) {
      // a realistic token with that prefix, so the constant and the classifier cannot disagree
      const sample =
        p.prefix === 'GR1348941'
          ? `${p.prefix}Xq7_pLm2VbN9cRt4wZsK`
          : `${p.prefix}${'abcdefghij'.repeat(2)}`;
      t.equal(classifyToken(sample).cls.kind, p.kind, `${p.prefix}… is a ${p.what}`);
      t.ok(
        Buffer.from(sample).toString('base64').startsWith(base64Prefix(p.prefix)),
        `base64 of ${p.prefix}… starts with ${base64Prefix(p.prefix)}`,
      );
    }
  },
);

t.test('what the conditions cost to evaluate (printed, not asserted)', async (t) => {
  // cel-js in this process, not cel-go in the apiserver: a relative figure for docs/operations.md
  const runnerCm = {
    request: {
      operation: 'CREATE',
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      kind: { kind: 'ConfigMap' },
    },
    object: { data: { 'config.toml': 'concurrent = 1\n[[runners]]\n  token = "x"\n' } },
    oldObject: null,
  };
  const unrelatedCm = {
    ...runnerCm,
    object: { data: { 'nginx.conf': 'worker_processes auto;\n'.repeat(20) } },
  };
  const n = 2000;
  for (const [what, ctx] of [
    ['runner ConfigMap', runnerCm],
    ['unrelated ConfigMap', unrelatedCm],
  ] as const) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) for (const c of CONDITION_FILES) compiled[c](ctx);
    t.comment(
      `${what}: ${(((performance.now() - t0) * 1000) / n).toFixed(1)} µs for the three conditions (cel-js)`,
    );
  }
  t.pass();
});
