import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import type { Finding, Severity } from '../../src/findings/types.js';
import { workloadFindings } from '../../src/rules/workload/index.js';
import {
  analyzeWorkload,
  getPodSpec,
  type LookupResult,
  type ResolvedRefs,
} from '../../src/workload/index.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const SHARED = path.resolve(import.meta.dirname, '../../../shared');
const CORPUS = path.join(SHARED, 'corpus', 'k8s');

// Synthetic tokens of the real shapes (the same ones the seed fixtures use).
const GR = 'GR1348941Xq7_pLm2VbN9cRt4wZsK';
const GLRT = 'glrt-Tq3vZ8xYp2LmN6bW4cRs';
const GLRTR = 'glrtr-Hk4mZ8xYp2LmN6bW4cRsQ';
const GLPAT = 'glpat-Ab3dEf6hIj9kLm2nOp5q';
const ALL_TOKENS = [GR, GLRT, GLRTR, GLPAT];

type Obj = Record<string, unknown>;

function yamlDocs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Obj)
    .filter((o) => o !== null && typeof o === 'object');
}
function seed(name: string): Obj {
  return yamlDocs(path.join(FIXTURES, 'seed', name))[0]!;
}
function admission(name: string): Obj {
  const review = JSON.parse(readFileSync(path.join(FIXTURES, 'admission', name), 'utf8')) as {
    request: { object: Obj };
  };
  return review.request.object;
}
function ref(o: Obj): { kind: string; name?: string; namespace?: string } {
  const md = (o.metadata ?? {}) as { name?: string; namespace?: string };
  return {
    kind: String(o.kind),
    ...(md.name ? { name: md.name } : {}),
    ...(md.namespace ? { namespace: md.namespace } : {}),
  };
}
function findings(o: Obj, resolved?: ResolvedRefs): Finding[] {
  return workloadFindings(o, ref(o), resolved);
}
function ids(fs: Finding[], sev?: Severity): string[] {
  return fs
    .filter((f) => sev === undefined || f.severity === sev)
    .map((f) => f.ruleId)
    .sort();
}
function verdict(fs: Finding[]): 'allow' | 'warn' | 'deny' {
  if (fs.some((f) => f.severity === 'deny')) return 'deny';
  if (fs.some((f) => f.severity === 'warn')) return 'warn';
  return 'allow';
}
function resolvedWith(
  cms: Record<string, LookupResult> = {},
  secrets: Record<string, LookupResult> = {},
): ResolvedRefs {
  return { configMaps: new Map(Object.entries(cms)), secrets: new Map(Object.entries(secrets)) };
}
function configMapData(file: string): Record<string, string> {
  return seed(file).data as Record<string, string>;
}
/** No finding may carry a whole token anywhere (house rule). */
function assertNoWholeToken(t: { notOk: (v: unknown, m: string) => void }, fs: Finding[]): void {
  const text = JSON.stringify(fs);
  for (const tok of ALL_TOKENS)
    t.notOk(text.includes(tok), `no whole ${tok.slice(0, 5)}… token in findings`);
}
function clone<T>(x: T): T {
  return structuredClone(x);
}
function deployment(podSpec: Obj, replicas = 1, kind = 'Deployment'): Obj {
  const o: Obj = {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name: 'r', namespace: 'ns' },
    spec: { template: { spec: podSpec } },
  };
  if (kind !== 'DaemonSet') (o.spec as Obj).replicas = replicas;
  return o;
}

// --- fixtures with expected decisions ----------------------------------------------------------

t.test('admission fixtures: workload rows of INDEX.tsv', async (t) => {
  const rows = readFileSync(path.join(FIXTURES, 'admission', 'INDEX.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t'))
    .filter(([file]) => /^(deployment|statefulset|pod|daemonset)-/.test(file!));
  t.equal(rows.length, 4, 'four workload fixtures');
  for (const [file, expected] of rows) {
    const o = admission(file!);
    t.ok(analyzeWorkload(o), `${file} is a runner workload`);
    const fs = findings(o);
    t.ok(
      expected!.split('|').includes(verdict(fs)),
      `${file}: ${verdict(fs)} within ${expected} (${ids(fs).join(',')})`,
    );
    assertNoWholeToken(t, fs);
  }
});

t.test(
  'deployment-create-run: read-only config dir warns, nothing denies without a lookup',
  async (t) => {
    const fs = findings(admission('deployment-create-run.json'));
    t.same(ids(fs), ['GRA210']);
    t.equal(fs[0]!.field, 'spec.template.spec.containers[0].volumeMounts[0]');
    t.match(fs[0]!.message, /read-only/);
    t.equal(fs[0]!.object.kind, 'Deployment');
    t.equal(fs[0]!.object.name, 'gitlab-runner');
  },
);

t.test(
  'variant3: plain registration token, register into read-only ConfigMap, :latest, read-only run dir',
  async (t) => {
    for (const o of [
      admission('deployment-update-initcontainer-variant3.json'),
      seed('deployment-initcontainer-variant3.yaml'),
    ]) {
      const fs = findings(o);
      t.same(ids(fs, 'deny'), ['GRA207'], 'register --config into the ConfigMap mount');
      t.same(ids(fs, 'warn'), ['GRA206', 'GRA210']);
      t.same(ids(fs, 'info'), ['GRA209', 'GRA209'], ':latest on both containers');
      const plain = fs.find((f) => f.ruleId === 'GRA206')!;
      t.equal(plain.field, 'spec.template.spec.initContainers[0].env[0]');
      t.equal(plain.token, 'GR1348941…wZsK');
      // right slot: --registration-token with a registration token is not a slot error
      t.notOk(fs.some((f) => f.ruleId === 'GRA201' || f.ruleId === 'GRA202'));
      assertNoWholeToken(t, fs);
    }
  },
);

t.test(
  'pod: glrt- token in GITLAB_REGISTRATION_TOKEN used with --token warns only for the plain value',
  async (t) => {
    const fs = findings(admission('pod-create-plain-env-token.json'));
    t.same(ids(fs), ['GRA206']);
    t.equal(fs[0]!.severity, 'warn');
    t.equal(fs[0]!.field, 'spec.containers[0].env[0]');
    t.match(fs[0]!.message, /--token/);
    assertNoWholeToken(t, fs);
  },
);

t.test('statefulset: CI_SERVER_TOKEN from key runner-registration-token', async (t) => {
  const o = admission('statefulset-create-registration-token-as-ci-server-token.json');
  const a = analyzeWorkload(o)!;
  t.same(a.referencedEnvSources, [{ kind: 'Secret', name: 'gitlab-runner-tokens' }]);

  const noLookup = findings(o);
  t.same(ids(noLookup), ['GRA204']);
  t.equal(noLookup[0]!.severity, 'warn');

  const withGr = findings(
    o,
    resolvedWith(
      {},
      { 'gitlab-runner-tokens': { 'runner-registration-token': GR, 'runner-token': '' } },
    ),
  );
  t.same(ids(withGr, 'deny'), ['GRA201'], 'lookup shows a registration token in the auth slot');
  t.equal(withGr.find((f) => f.ruleId === 'GRA201')!.token, 'GR1348941…wZsK');
  assertNoWholeToken(t, withGr);

  const withGlrt = findings(
    o,
    resolvedWith({}, { 'gitlab-runner-tokens': { 'runner-registration-token': GLRT } }),
  );
  t.same(ids(withGlrt), ['GRA204']);
  t.equal(
    withGlrt[0]!.severity,
    'info',
    'right kind under the wrong key name: only the naming is off',
  );

  for (const failure of ['not-found', 'forbidden', 'error'] as const) {
    const fs = findings(o, resolvedWith({}, { 'gitlab-runner-tokens': failure }));
    t.same(ids(fs), ['GRA204'], `lookup ${failure}: no finding that needs the value`);
  }
});

t.test(
  'seed deployment-run: allowed alone; with the resolved ConfigMap it can never authenticate',
  async (t) => {
    const o = seed('deployment-run.yaml');
    const a = analyzeWorkload(o)!;
    t.same(a.referencedConfigSources, [
      {
        kind: 'ConfigMap',
        name: 'gitlab-runner-config',
        key: 'config.toml',
        container: 0,
        via: 'mount',
      },
    ]);
    t.equal(a.replicas, 2);
    t.notOk(findings(o).some((f) => f.severity === 'deny'));

    const withGr = findings(
      o,
      resolvedWith({ 'gitlab-runner-config': configMapData('configmap-registration-token.yaml') }),
    );
    const gra211 = withGr.filter((f) => f.ruleId === 'GRA211');
    t.equal(gra211.length, 1);
    t.equal(gra211[0]!.severity, 'deny');
    t.equal(gra211[0]!.dataKey, 'config.toml');
    t.equal(gra211[0]!.line, 8, 'line of `token` in config.toml');
    t.same(gra211[0]!.runner, { index: 0, name: 'ois-cfa-runner' });
    t.match(gra211[0]!.message, /registration token GR1348941…wZsK/);
    t.match(gra211[0]!.message, /never registers/);
    assertNoWholeToken(t, withGr);

    const withTemplate = findings(
      o,
      resolvedWith({ 'gitlab-runner-config': configMapData('configmap-template.yaml') }),
    );
    const tmpl = withTemplate.filter((f) => f.ruleId === 'GRA211');
    t.equal(tmpl.length, 1);
    t.equal(tmpl[0]!.severity, 'deny');
    t.match(tmpl[0]!.message, /has no token/);

    for (const failure of ['not-found', 'forbidden', 'error'] as const) {
      t.notOk(
        findings(o, resolvedWith({ 'gitlab-runner-config': failure })).some(
          (f) => f.ruleId === 'GRA211',
        ),
        `lookup ${failure}`,
      );
    }
  },
);

t.test('a glrt- config with token_expires_at on a read-only mount, 2 replicas', async (t) => {
  const o = seed('deployment-run.yaml');
  const cfg = `concurrent = 1\n[[runners]]\n  name = "a"\n  url = "https://gitlab.example.com"\n  token = "${GLRT}"\n  token_expires_at = 2027-01-01T00:00:00Z\n  executor = "kubernetes"\n`;
  const fs = findings(o, resolvedWith({ 'gitlab-runner-config': { 'config.toml': cfg } }));
  t.same(ids(fs), ['GRA210', 'GRA212', 'GRA213']);
  t.notOk(fs.some((f) => f.severity === 'deny'));
  t.match(fs.find((f) => f.ruleId === 'GRA213')!.message, /2 replicas/);

  const noExpiry = cfg.replace(
    / {2}token_expires_at.*\n/,
    '  token_expires_at = 0001-01-01T00:00:00Z\n',
  );
  t.same(
    ids(findings(o, resolvedWith({ 'gitlab-runner-config': { 'config.toml': noExpiry } }))),
    ['GRA210'],
    'zero time means no expiry',
  );

  const ff = clone(o);
  const c = ((ff.spec as Obj).template as { spec: { containers: Obj[] } }).spec.containers[0]!;
  (c.env as Obj[]).push({ name: 'FF_DISABLE_AUTOMATIC_TOKEN_ROTATION', value: 'true' });
  t.same(
    ids(findings(ff, resolvedWith({ 'gitlab-runner-config': { 'config.toml': cfg } }))),
    ['GRA210'],
    'rotation disabled',
  );
});

t.test('config token = "${RUNNER_TOKEN}" is judged by the env that feeds it', async (t) => {
  const o = clone(seed('deployment-run.yaml'));
  const c = ((o.spec as Obj).template as { spec: { containers: Obj[] } }).spec.containers[0]!;
  (c.env as Obj[]).push({
    name: 'RUNNER_TOKEN',
    valueFrom: { secretKeyRef: { name: 'tok', key: 'runner-token' } },
  });
  const cfg =
    '[[runners]]\n  name = "a"\n  url = "https://gitlab.example.com"\n  token = "${RUNNER_TOKEN}"\n  executor = "kubernetes"\n';
  const cms = { 'gitlab-runner-config': { 'config.toml': cfg } };
  t.notOk(
    findings(o, resolvedWith(cms)).some((f) => f.ruleId === 'GRA211'),
    'Secret not fetched: unknown',
  );
  const bad = findings(o, resolvedWith(cms, { tok: { 'runner-token': GR } }));
  t.equal(bad.filter((f) => f.ruleId === 'GRA211' && f.severity === 'deny').length, 1);
  t.match(bad.find((f) => f.ruleId === 'GRA211')!.message, /via \$RUNNER_TOKEN/);
  t.notOk(
    findings(o, resolvedWith(cms, { tok: { 'runner-token': GLRT } })).some(
      (f) => f.ruleId === 'GRA211',
    ),
  );
  assertNoWholeToken(t, bad);
});

// --- the chart's shape: copy to a writable dir, register, run ------------------------------------

function chartLike(script: string, init?: Obj): Obj {
  return deployment({
    ...(init ? { initContainers: [init] } : {}),
    containers: [
      {
        name: 'runner',
        image: 'registry.gitlab.com/gitlab-org/gitlab-runner:alpine-v17.11.0',
        command: ['/bin/sh', '-c', script],
        env: [
          {
            name: 'REGISTRATION_TOKEN',
            valueFrom: { secretKeyRef: { name: 'tok', key: 'runner-registration-token' } },
          },
        ],
        volumeMounts: [
          { name: 'cfg', mountPath: '/configmaps' },
          { name: 'etc', mountPath: '/etc/gitlab-runner' },
        ],
      },
    ],
    volumes: [
      { name: 'cfg', configMap: { name: 'runner-cm' } },
      { name: 'etc', emptyDir: {} },
    ],
  });
}

t.test(
  'cp to a writable emptyDir, register, then run: no read-only warning, nothing to deny',
  async (t) => {
    const o = chartLike(
      'cp /configmaps/config.toml /etc/gitlab-runner/ && gitlab-runner register --non-interactive --template-config /configmaps/config.toml && exec gitlab-runner run',
    );
    const a = analyzeWorkload(o)!;
    const c = a.containers[0]!;
    t.same(
      c.invocations.map((i) => i.subcommand),
      ['register', 'run'],
    );
    t.equal(c.copies.length, 1);
    t.equal(c.copies[0]!.to.path, '/etc/gitlab-runner/config.toml');
    t.same(a.referencedConfigSources, [
      { kind: 'ConfigMap', name: 'runner-cm', key: 'config.toml', container: 0, via: 'copy' },
    ]);
    t.equal(c.registersBeforeRun, true);
    t.equal(c.configCopiedFrom![0]!.from!.path, '/configmaps/config.toml');
    const fs = findings(o, resolvedWith({ 'runner-cm': configMapData('configmap-template.yaml') }));
    t.same(ids(fs), [], 'registers first, so the template without a token is fine');
  },
);

t.test(
  'cp to a writable dir without any register: the copied config is what run reads',
  async (t) => {
    const o = chartLike(
      'cp /configmaps/config.toml /etc/gitlab-runner/config.toml; gitlab-runner run',
    );
    t.notOk(
      findings(o).some((f) => f.ruleId === 'GRA210'),
      'config dir is writable',
    );
    t.equal(analyzeWorkload(o)!.containers[0]!.registersBeforeRun, false);
    const fs = findings(
      o,
      resolvedWith({ 'runner-cm': configMapData('configmap-registration-token.yaml') }),
    );
    t.same(ids(fs, 'deny'), ['GRA211']);
  },
);

t.test('directory copies: cp -r /configmaps/. and cp -a dir/', async (t) => {
  for (const script of [
    'cp -r /configmaps/. /etc/gitlab-runner/ && gitlab-runner run',
    'cp -a /configmaps/ /etc/; exec gitlab-runner run -c /etc/configmaps/config.toml',
  ]) {
    const a = analyzeWorkload(chartLike(script))!;
    t.equal(a.containers[0]!.copies[0]!.dir, true, script);
    t.same(
      a.referencedConfigSources,
      [{ kind: 'ConfigMap', name: 'runner-cm', key: 'config.toml', container: 0, via: 'copy' }],
      script,
    );
  }
});

t.test(
  'variant3 with the registration-token ConfigMap resolved: register cannot write, so run never authenticates',
  async (t) => {
    const fs = findings(
      seed('deployment-initcontainer-variant3.yaml'),
      resolvedWith({ 'gitlab-runner-config': configMapData('configmap-registration-token.yaml') }),
    );
    t.same(ids(fs, 'deny'), ['GRA207', 'GRA211']);
    assertNoWholeToken(t, fs);
  },
);

t.test('an initContainer copying into a shared emptyDir counts as the source', async (t) => {
  const o = deployment({
    initContainers: [
      {
        name: 'copy',
        image: 'busybox:1.36',
        command: ['sh', '-c', 'cp /cm/config.toml /work/config.toml'],
        volumeMounts: [
          { name: 'cm', mountPath: '/cm' },
          { name: 'etc', mountPath: '/work' },
        ],
      },
    ],
    containers: [
      {
        name: 'runner',
        image: 'gitlab/gitlab-runner:v17.11.0',
        volumeMounts: [{ name: 'etc', mountPath: '/etc/gitlab-runner' }],
      },
    ],
    volumes: [
      {
        name: 'cm',
        configMap: { name: 'src', items: [{ key: 'runner.toml', path: 'config.toml' }] },
      },
      { name: 'etc', emptyDir: {} },
    ],
  });
  const a = analyzeWorkload(o)!;
  t.equal(a.containers[0]!.isRunner, false, 'busybox is not a runner');
  t.equal(a.containers[1]!.invocations[0]!.origin, 'image-default');
  t.same(a.referencedConfigSources, [
    { kind: 'ConfigMap', name: 'src', key: 'runner.toml', container: 1, via: 'copy' },
  ]);
  t.same(ids(findings(o)), []);
  t.same(
    ids(findings(o, resolvedWith({ src: { 'runner.toml': '[[runners]]\n  token = ""\n' } }))),
    ['GRA211'],
  );
});

t.test('an opaque script in an initContainer that can write the config may register', async (t) => {
  const build = (opaqueMounts: Obj[]): Obj =>
    deployment({
      initContainers: [
        {
          name: 'copy',
          image: 'busybox:1.36',
          command: ['sh', '-c', 'cp /cm/config.toml /work/'],
          volumeMounts: [
            { name: 'cm', mountPath: '/cm' },
            { name: 'etc', mountPath: '/work' },
          ],
        },
        {
          name: 'configure',
          image: 'gitlab/gitlab-runner:v17.11.0',
          command: ['sh', '/config/configure'],
          volumeMounts: opaqueMounts,
        },
      ],
      containers: [
        {
          name: 'runner',
          image: 'gitlab/gitlab-runner:v17.11.0',
          volumeMounts: [{ name: 'etc', mountPath: '/etc/gitlab-runner' }],
        },
      ],
      volumes: [
        { name: 'cm', configMap: { name: 'cm' } },
        { name: 'etc', emptyDir: {} },
      ],
    });
  const noToken = resolvedWith({ cm: { 'config.toml': '[[runners]]\n  token = ""\n' } });
  const writable = build([{ name: 'etc', mountPath: '/etc/gitlab-runner' }]);
  t.equal(analyzeWorkload(writable)!.containers[1]!.opaque, true);
  t.same(
    ids(findings(writable, noToken)),
    [],
    'the unseen script may register into the shared emptyDir',
  );
  t.same(
    ids(findings(build([{ name: 'cm', mountPath: '/cm' }]), noToken)),
    ['GRA211'],
    'it only sees the read-only ConfigMap',
  );
  t.same(
    ids(findings(build([{ name: 'etc', mountPath: '/x', readOnly: true }]), noToken)),
    ['GRA211'],
    'read-only mount of the emptyDir',
  );
});

// --- slots, reserved options, whitespace ----------------------------------------------------------

function runnerWith(container: Obj, extra: Obj = {}): Obj {
  return deployment({
    containers: [{ name: 'runner', image: 'gitlab/gitlab-runner:v17.11.0', ...container }],
    ...extra,
  });
}

t.test('registration token literal in CI_SERVER_TOKEN: deny + plain value', async (t) => {
  const fs = findings(runnerWith({ args: ['run'], env: [{ name: 'CI_SERVER_TOKEN', value: GR }] }));
  t.same(ids(fs), ['GRA201', 'GRA206']);
  t.equal(fs.find((f) => f.ruleId === 'GRA201')!.field, 'spec.template.spec.containers[0].env[0]');
  assertNoWholeToken(t, fs);
});

t.test(
  'auth tokens in REGISTRATION_TOKEN: glrtr- denies, glrt- warns (runner 15.10+ accepts it)',
  async (t) => {
    const glrtr = findings(
      runnerWith({
        args: ['register', '--non-interactive'],
        env: [
          {
            name: 'REGISTRATION_TOKEN',
            valueFrom: { secretKeyRef: { name: 's', key: 'runner-registration-token' } },
          },
        ],
      }),
      resolvedWith({}, { s: { 'runner-registration-token': GLRTR } }),
    );
    t.same(ids(glrtr, 'deny'), ['GRA202']);
    const glrt = findings(
      runnerWith({
        args: ['register', '--non-interactive'],
        env: [
          {
            name: 'REGISTRATION_TOKEN',
            valueFrom: { secretKeyRef: { name: 's', key: 'runner-registration-token' } },
          },
        ],
      }),
      resolvedWith({}, { s: { 'runner-registration-token': GLRT } }),
    );
    t.same(ids(glrt), ['GRA203']);
    t.equal(glrt[0]!.severity, 'warn');
    assertNoWholeToken(t, [...glrtr, ...glrt]);
  },
);

t.test('REGISTRATION_TOKEN from key runner-token warns without a lookup', async (t) => {
  const fs = findings(
    runnerWith({
      args: ['register', '--non-interactive'],
      env: [
        {
          name: 'REGISTRATION_TOKEN',
          valueFrom: { secretKeyRef: { name: 's', key: 'runner-token' } },
        },
      ],
    }),
  );
  t.same(ids(fs), ['GRA204']);
  t.match(fs[0]!.fix, /runner-registration-token/);
});

t.test('other variable names are judged by the flag that uses them', async (t) => {
  const env = [{ name: 'MY_TOKEN', value: GR }];
  const asToken = findings(
    runnerWith({
      command: ['sh', '-c', 'gitlab-runner register -n --token "$MY_TOKEN" && gitlab-runner run'],
      env,
    }),
  );
  t.same(ids(asToken, 'deny'), ['GRA201'], 'registration token used with --token');
  t.match(asToken.find((f) => f.ruleId === 'GRA201')!.message, /MY_TOKEN.*--token/);
  const asReg = findings(
    runnerWith({
      command: ['sh', '-c', 'gitlab-runner register -n -r $(MY_TOKEN) && gitlab-runner run'],
      env,
    }),
  );
  t.same(ids(asReg, 'deny'), [], 'registration token with -r is the right slot');
  t.same(ids(asReg, 'warn'), ['GRA206']);
});

t.test('a literal token on the command line', async (t) => {
  const fs = findings(runnerWith({ args: ['register', '--non-interactive', `--token=${GLPAT}`] }));
  t.same(ids(fs), ['GRA206', 'GRA214']);
  t.equal(fs.find((f) => f.ruleId === 'GRA214')!.field, 'spec.template.spec.containers[0].args');
  assertNoWholeToken(t, fs);
});

t.test('reserved options with an authentication token', async (t) => {
  const glrtEnv = [
    { name: 'CI_SERVER_TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'runner-token' } } },
  ];
  const res = resolvedWith({}, { s: { 'runner-token': GLRT } });
  const flag = findings(
    runnerWith({ args: ['register', '-n', '--tag-list', 'a,b'], env: glrtEnv }),
    res,
  );
  t.same(ids(flag), ['GRA205']);
  t.equal(flag[0]!.severity, 'deny');
  t.match(flag[0]!.message, /`--tag-list`/);
  t.match(flag[0]!.message, /glrt-…4cRs/);

  const lockedFalse = findings(
    runnerWith({ args: ['register', '-n', '--locked=false'], env: glrtEnv }),
    res,
  );
  t.same(ids(lockedFalse, 'deny'), ['GRA205']);

  // the defaults do not trip ensureServerConfigArgsEmpty (chart templates set these)
  const defaults = findings(
    runnerWith({
      args: ['register', '-n', '--locked'],
      env: [
        ...glrtEnv,
        { name: 'REGISTER_LOCKED', value: 'true' },
        { name: 'RUNNER_TAG_LIST', value: '' },
      ],
    }),
    res,
  );
  t.same(ids(defaults), []);

  const envOpt = findings(
    runnerWith({
      args: ['register', '-n'],
      env: [...glrtEnv, { name: 'REGISTER_RUN_UNTAGGED', value: 'true' }],
    }),
    res,
  );
  t.same(ids(envOpt, 'deny'), ['GRA205']);
  t.equal(envOpt[0]!.field, 'spec.template.spec.containers[0].env[1]');

  // -t given, value unknown without a lookup, no registration token: still fatal for glrt- tokens
  t.same(
    ids(
      findings(runnerWith({ args: ['register', '-n', '--tag-list', 'a'], env: glrtEnv })),
      'deny',
    ),
    ['GRA205'],
  );

  // a registration token registers the legacy way: options allowed
  const legacy = findings(
    runnerWith({
      args: ['register', '-n', '-r', '$(RT)', '--tag-list', 'a', '--locked=false'],
      env: [
        {
          name: 'RT',
          valueFrom: { secretKeyRef: { name: 's', key: 'runner-registration-token' } },
        },
      ],
    }),
    resolvedWith({}, { s: { 'runner-registration-token': GR } }),
  );
  t.same(ids(legacy), []);

  // glrtr- in -t only verifies; the reserved check is not reached
  t.same(
    ids(
      findings(
        runnerWith({ args: ['register', '-n', '--tag-list', 'a'], env: glrtEnv }),
        resolvedWith({}, { s: { 'runner-token': GLRTR } }),
      ),
    ),
    [],
  );
});

t.test('whitespace around a token', async (t) => {
  const literal = findings(
    runnerWith({ args: ['run'], env: [{ name: 'CI_SERVER_TOKEN', value: `${GLRT}\n` }] }),
  );
  t.same(ids(literal), ['GRA206', 'GRA208']);
  t.equal(literal.find((f) => f.ruleId === 'GRA208')!.severity, 'deny');
  const fromSecret = findings(
    runnerWith({
      args: ['run'],
      env: [
        {
          name: 'CI_SERVER_TOKEN',
          valueFrom: { secretKeyRef: { name: 's', key: 'runner-token' } },
        },
      ],
    }),
    resolvedWith({}, { s: { 'runner-token': ` ${GLRT}` } }),
  );
  t.same(ids(fromSecret), ['GRA208']);
  assertNoWholeToken(t, [...literal, ...fromSecret]);
});

t.test(
  'register --config into a read-only mount: whole dir, subPath file, readOnly emptyDir',
  async (t) => {
    const dir = findings(
      runnerWith(
        {
          args: ['register', '-n', '--config', '/cfg/config.toml'],
          volumeMounts: [{ name: 's', mountPath: '/cfg', readOnly: false }],
        },
        { volumes: [{ name: 's', secret: { secretName: 'x' } }] },
      ),
    );
    t.same(ids(dir), ['GRA207'], 'Secret mounts are read-only whatever readOnly says');
    const sub = findings(
      runnerWith(
        {
          args: ['register', '-n', '-c', '/etc/gitlab-runner/config.toml'],
          volumeMounts: [
            { name: 'c', mountPath: '/etc/gitlab-runner/config.toml', subPath: 'config.toml' },
          ],
        },
        { volumes: [{ name: 'c', configMap: { name: 'x' } }] },
      ),
    );
    t.same(ids(sub), ['GRA207']);
    const ro = findings(
      runnerWith(
        {
          args: ['register', '-n'],
          volumeMounts: [{ name: 'e', mountPath: '/etc/gitlab-runner', readOnly: true }],
        },
        { volumes: [{ name: 'e', emptyDir: {} }] },
      ),
    );
    t.same(ids(ro), ['GRA207'], 'default config path, readOnly emptyDir');
    const rw = findings(
      runnerWith(
        {
          args: ['register', '-n'],
          volumeMounts: [{ name: 'e', mountPath: '/etc/gitlab-runner' }],
        },
        { volumes: [{ name: 'e', emptyDir: {} }] },
      ),
    );
    t.same(ids(rw), []);
  },
);

t.test('config path: --config=X, --config X, -c X, CONFIG_FILE, non-root default', async (t) => {
  const path = (c: Obj, extra: Obj = {}): string | undefined =>
    analyzeWorkload(runnerWith(c, extra))!.containers[0]!.runConfig?.path;
  t.equal(path({ args: ['run', '--config=/a/c.toml'] }), '/a/c.toml');
  t.equal(path({ args: ['run', '--config', '/b/c.toml'] }), '/b/c.toml');
  t.equal(path({ args: ['run', '-c', '/c/c.toml'] }), '/c/c.toml');
  t.equal(path({ args: ['--debug', 'run', '-c', '/d/c.toml'] }), '/d/c.toml');
  t.equal(path({ args: ['run'], env: [{ name: 'CONFIG_FILE', value: '/e/c.toml' }] }), '/e/c.toml');
  t.equal(path({ args: ['run'] }), '/etc/gitlab-runner/config.toml');
  t.equal(
    path({ args: ['run'], securityContext: { runAsUser: 999 } }),
    '/home/gitlab-runner/.gitlab-runner/config.toml',
  );
  t.equal(
    path({ args: ['run'] }, { securityContext: { runAsNonRoot: true, runAsUser: 999 } }),
    '/home/gitlab-runner/.gitlab-runner/config.toml',
  );
  t.equal(
    path(
      { args: ['run'], securityContext: { runAsUser: 0 } },
      { securityContext: { runAsUser: 999 } },
    ),
    '/etc/gitlab-runner/config.toml',
  );
});

t.test('subPath file mount: the directory stays writable (no GRA210)', async (t) => {
  const o = runnerWith(
    {
      args: ['run'],
      volumeMounts: [
        {
          name: 'config',
          mountPath: '/etc/gitlab-runner/config.toml',
          subPath: 'config.toml',
          readOnly: true,
        },
      ],
    },
    { volumes: [{ name: 'config', configMap: { name: 'gitlab-runner-config' } }] },
  );
  const a = analyzeWorkload(o)!;
  t.equal(a.containers[0]!.runConfig!.readOnly, true);
  t.equal(a.containers[0]!.runConfigDir!.readOnly, false);
  t.same(a.referencedConfigSources, [
    {
      kind: 'ConfigMap',
      name: 'gitlab-runner-config',
      key: 'config.toml',
      container: 0,
      via: 'mount',
    },
  ]);
  t.same(ids(findings(o)), []);
});

t.test('projected volume with items maps the key', async (t) => {
  const o = runnerWith(
    { args: ['run'], volumeMounts: [{ name: 'p', mountPath: '/etc/gitlab-runner' }] },
    {
      volumes: [
        {
          name: 'p',
          projected: {
            sources: [
              { secret: { name: 'sec', items: [{ key: 'cfg', path: 'config.toml' }] } },
              { configMap: { name: 'other' } },
            ],
          },
        },
      ],
    },
  );
  const a = analyzeWorkload(o)!;
  t.same(
    a.referencedConfigSources.map((s) => `${s.kind}/${s.name}/${s.key}`),
    ['Secret/sec/cfg', 'ConfigMap/other/config.toml'],
  );
  t.same(ids(findings(o)), ['GRA210']);
});

t.test('DaemonSet counts as many pods sharing a token', async (t) => {
  const o = deployment(
    {
      containers: [
        {
          name: 'r',
          image: 'gitlab/gitlab-runner:v17.11.0',
          volumeMounts: [{ name: 'c', mountPath: '/etc/gitlab-runner' }],
        },
      ],
      volumes: [{ name: 'c', secret: { secretName: 's' } }],
    },
    1,
    'DaemonSet',
  );
  const cfg = `[[runners]]\n  url = "https://g"\n  token = "${GLRT}"\n  token_expires_at = 2027-01-01T00:00:00Z\n`;
  const fs = findings(o, resolvedWith({}, { s: { 'config.toml': cfg } }));
  t.same(ids(fs), ['GRA210', 'GRA212', 'GRA213']);
  t.match(fs.find((f) => f.ruleId === 'GRA213')!.message, /DaemonSet/);
});

t.test('floating image tags are info; pinned ones are not reported', async (t) => {
  const img = (image: string): string[] => ids(findings(runnerWith({ image, args: ['run'] })));
  t.same(img('gitlab/gitlab-runner'), ['GRA209']);
  t.same(img('gitlab/gitlab-runner:latest'), ['GRA209']);
  t.same(img('gitlab/gitlab-runner:alpine'), ['GRA209']);
  t.same(img('registry.gitlab.com/gitlab-org/gitlab-runner:v18.0.0'), []);
  t.same(
    img(
      'gitlab/gitlab-runner:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    ),
    [],
  );
  t.equal(
    findings(runnerWith({ image: 'gitlab/gitlab-runner:latest', args: ['run'] }))[0]!.severity,
    'info',
  );
});

// --- detection -----------------------------------------------------------------------------

t.test('runner detection', async (t) => {
  const nginx = deployment({
    containers: [{ name: 'web', image: 'nginx:1.27', args: ['nginx', '-g', 'daemon off;'] }],
  });
  t.equal(analyzeWorkload(nginx), undefined, 'nginx is not a runner');
  t.same(findings(nginx), []);
  t.equal(analyzeWorkload({ kind: 'ConfigMap', data: {} }), undefined);
  t.equal(analyzeWorkload(null), undefined);
  t.equal(analyzeWorkload('x'), undefined);
  t.equal(analyzeWorkload({ kind: 'Deployment', spec: {} }), undefined);

  const notRunner = (image: string, command?: string[]): boolean =>
    analyzeWorkload(
      deployment({ containers: [{ name: 'c', image, ...(command ? { command } : {}) }] }),
    ) !== undefined;
  t.notOk(notRunner('gitlab/gitlab-runner-helper:x86_64-v17.11.0'), 'helper image');
  t.notOk(notRunner('ghcr.io/acme/gitlab-runner-admission:1.0'), 'our own webhook');
  t.notOk(
    notRunner('busybox', ['sh', '-c', 'cp /x /etc/gitlab-runner/config.toml']),
    'a path mentioning gitlab-runner is not a runner',
  );
  t.ok(notRunner('gitlab/gitlab-runner:v17.11.0'));
  t.ok(notRunner('registry.gitlab.com/gitlab-org/gitlab-runner:alpine-v17.11.0'));
  t.ok(
    notRunner(
      'registry.gitlab.com/gitlab-org/ci-cd/gitlab-runner-ubi-images/gitlab-runner-ocp:v17.11.0',
    ),
  );
  t.ok(notRunner('gitlab/gitlab-ci-multi-runner:v1.11.0'));
  t.ok(notRunner('alpine:3.20', ['sh', '-c', 'apk add gitlab-runner && gitlab-runner run']));
  t.ok(notRunner('debian:12', ['/usr/local/bin/gitlab-runner-linux-amd64', 'run']));
});

t.test('getPodSpec: kinds, old apiVersions, pointers', async (t) => {
  const pod = { kind: 'Pod', spec: { containers: [] } };
  t.same(getPodSpec(pod)?.pointer, '/spec');
  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']) {
    t.equal(
      getPodSpec({
        kind,
        apiVersion: 'apps/v1beta2',
        spec: { template: { spec: { containers: [] } } },
      })?.pointer,
      '/spec/template/spec',
      kind,
    );
  }
  t.equal(getPodSpec({ kind: 'ConfigMap', spec: {} }), undefined);
  const a = analyzeWorkload({
    kind: 'Pod',
    spec: { containers: [{ name: 'r', image: 'gitlab/gitlab-runner:v1' }] },
  })!;
  t.equal(a.containers[0]!.pointer, '/spec/containers/0');
  t.equal(a.containers[0]!.field, 'spec.containers[0]');
});

t.test('preStop unregister is read but does not count as the main process', async (t) => {
  const a = analyzeWorkload(
    runnerWith({
      args: ['run'],
      lifecycle: { preStop: { exec: { command: ['/entrypoint', 'unregister', '--all-runners'] } } },
    }),
  )!;
  t.same(
    a.containers[0]!.lifecycle.map((i) => [i.subcommand, i.origin]),
    [['unregister', 'preStop']],
  );
  t.same(
    a.containers[0]!.invocations.map((i) => i.subcommand),
    ['run'],
  );
});

// --- real manifests from the corpus (not copied: read from ../shared when present) ---------------

const CORPUS_ALLOW = [
  'anuchito-deployment.yaml',
  'ericglasser-deployment.yaml',
  'ijzerbroot-statefulset.yaml',
  'lenoud-statefulset-envFrom-secret.yaml',
  'ijzerbroot-gitlab-runner-multidoc.yml',
];

t.test(
  'corpus workloads expected to be allowed',
  {
    skip: existsSync(CORPUS)
      ? false
      : `corpus not found at ${CORPUS} (a plain clone has no ../shared)`,
  },
  async (t) => {
    for (const file of CORPUS_ALLOW) {
      const workloads = yamlDocs(path.join(CORPUS, file)).filter((o) =>
        ['Deployment', 'StatefulSet', 'DaemonSet', 'Pod'].includes(String(o.kind)),
      );
      t.equal(workloads.length, 1, `${file}: one workload`);
      for (const o of workloads) {
        t.ok(analyzeWorkload(o), `${file} is a runner workload`);
        const fs = findings(o);
        t.equal(verdict(fs), 'allow', `${file}: no warn/deny (${ids(fs).join(',') || 'none'})`);
      }
    }
  },
);

t.test(
  'corpus: what the analysis sees in real manifests',
  { skip: existsSync(CORPUS) ? false : `corpus not found at ${CORPUS}` },
  async (t) => {
    const ij = analyzeWorkload(yamlDocs(path.join(CORPUS, 'ijzerbroot-statefulset.yaml'))[0])!;
    const main = ij.containers[1]!;
    t.same(
      main.invocations.map((i) => i.subcommand),
      ['register', 'run'],
      'register -r then exec run',
    );
    t.equal(
      main.runConfig!.path,
      '/home/gitlab-runner/.gitlab-runner/config.toml',
      'runAsUser 999',
    );
    const r = main.registers[0]!.registrationToken!;
    t.same(
      r.kind === 'env' && [r.variable, r.fromEnvFrom],
      ['GITLAB_CI_TOKEN', true],
      "'$(GITLAB_CI_TOKEN)' is a Kubernetes reference to envFrom",
    );
    t.same(
      main.lifecycle.map((i) => i.subcommand),
      ['unregister'],
    );

    const ij2 = yamlDocs(path.join(CORPUS, 'ijzerbroot-gitlab-runner-multidoc.yml')).find(
      (o) => o.kind === 'Deployment',
    )!;
    t.equal((ij2 as { apiVersion: string }).apiVersion, 'apps/v1beta1');
    const a2 = analyzeWorkload(ij2)!;
    t.equal(a2.containers[0]!.invocations[0]!.origin, 'image-default');
    t.same(a2.referencedConfigSources, [], 'the config volume mount is commented out');

    const an = analyzeWorkload(yamlDocs(path.join(CORPUS, 'anuchito-deployment.yaml'))[0])!;
    t.same(an.referencedConfigSources, [
      {
        kind: 'ConfigMap',
        name: 'gitlab-runner-config',
        key: 'config.toml',
        container: 0,
        via: 'mount',
      },
    ]);

    const eg = analyzeWorkload(yamlDocs(path.join(CORPUS, 'ericglasser-deployment.yaml'))[0])!;
    t.equal(eg.containers[0]!.opaque, true, 'bash /scripts/entrypoint from a ConfigMap: unseen');

    const ln = analyzeWorkload(
      yamlDocs(path.join(CORPUS, 'lenoud-statefulset-envFrom-secret.yaml'))[0],
    )!;
    t.equal(ln.replicas, 2);
    t.equal(ln.containers[0]!.opaque, true);
  },
);
