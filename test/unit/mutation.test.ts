import t from 'tap';
import path from 'node:path';
import fjp from 'fast-json-patch';
import { planInjection, INIT_CONTAINER_NAME, type InjectionPlan } from '../../src/mutation/plan.js';
import { INJECTED } from '../../src/mutation/annotations.js';
import { evaluateObject } from '../../src/rules/evaluate.js';
import type { ResolvedRefs } from '../../src/workload/types.js';
import { fixturesDir, readYamlDocs, SEED_REG_TOKEN, SEED_AUTH_TOKEN } from '../helpers/fixtures.js';

/**
 * Patch planning on the seed scenario (../shared/fixtures/seed, copied into test/fixtures):
 * every patch is applied with a real RFC 6902 implementation (fast-json-patch, validating) to
 * the raw object, the result is checked, re-planned (no second patch) and evaluated by the
 * validating rules (no deny).
 */

const seed = (f: string) => readYamlDocs(path.join(fixturesDir, 'seed', f))[0];
const deployment = () => structuredClone(seed('deployment-run.yaml'));
const template = seed('configmap-template.yaml');
const regConfig = seed('configmap-registration-token.yaml');

function refs(
  configText: string = template.data['config.toml'],
  secrets: Record<string, Record<string, string>> = {},
): ResolvedRefs {
  return {
    configMaps: new Map([['gitlab-runner-config', { 'config.toml': configText }]]),
    secrets: new Map(Object.entries(secrets)),
  };
}

function annotate(obj: any, ann: Record<string, string>): any {
  obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), ...ann };
  return obj;
}

function apply(obj: unknown, plan: InjectionPlan): any {
  if (plan.action !== 'patch')
    throw new Error(`expected a patch, got ${plan.action}/${plan.reason}`);
  // validate=true: every op must be applicable (parents exist, indexes valid)
  return fjp.applyPatch(structuredClone(obj), plan.patch as fjp.Operation[], true, false)
    .newDocument;
}

const podSpec = (o: any) => o.spec.template.spec;

t.test(
  'seed Deployment + template ConfigMap + token Secret annotation → injected, idempotent, valid',
  async (t) => {
    const obj = annotate(deployment(), {
      'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens',
    });
    const resolved = refs();
    const plan = planInjection(obj, { kind: 'Deployment', resolved });
    t.equal(plan.action, 'patch');
    const out = apply(obj, plan);
    const spec = podSpec(out);

    t.same(
      spec.volumes.find((v: any) => v.name === 'gra-runner-config'),
      { name: 'gra-runner-config', emptyDir: {} },
      'an emptyDir for the writable config',
    );
    t.ok(
      spec.volumes.find(
        (v: any) => v.name === 'config' && v.configMap.name === 'gitlab-runner-config',
      ),
      'the ConfigMap volume stays',
    );
    const init = spec.initContainers.find((c: any) => c.name === INIT_CONTAINER_NAME);
    t.ok(init, 'register-runner initContainer');
    t.equal(init.image, 'gitlab/gitlab-runner:v17.11.0', "the runner's own image, not :latest");
    t.equal(init.imagePullPolicy, 'IfNotPresent');
    t.same(init.resources, podSpec(obj).containers[0].resources, "the runner's resources");
    t.same(init.command.slice(0, 2), ['/bin/sh', '-c']);
    const script: string = init.command[2];
    t.match(
      script,
      /gitlab-runner register --non-interactive --config '\/etc\/gitlab-runner\/config\.toml' --template-config "\$t"/,
    );
    t.notMatch(JSON.stringify(out), SEED_REG_TOKEN, 'no token anywhere in the object');
    t.same(
      init.env.filter((e: any) => e.valueFrom?.secretKeyRef),
      [
        {
          name: 'CI_SERVER_TOKEN',
          valueFrom: {
            secretKeyRef: { name: 'gitlab-runner-tokens', key: 'runner-token', optional: true },
          },
        },
        {
          name: 'REGISTRATION_TOKEN',
          valueFrom: {
            secretKeyRef: {
              name: 'gitlab-runner-tokens',
              key: 'runner-registration-token',
              optional: true,
            },
          },
        },
      ],
      'token only through secretKeyRef, chart key names, flow chosen at runtime by which key is set',
    );
    t.notOk(
      init.env.some((e: any) => /^REGISTER_|^RUNNER_TAG_LIST$/.test(e.name)),
      'no reserved options',
    );
    t.same(init.volumeMounts.slice(0, 2), [
      { name: 'gra-runner-config', mountPath: '/etc/gitlab-runner' },
      { name: 'config', mountPath: '/configmaps', readOnly: true },
    ]);
    t.match(
      script,
      /'\/configmaps\/config\.toml'/,
      'the template path is where the ConfigMap is mounted',
    );

    const runner = spec.containers[0];
    t.same(
      runner.volumeMounts,
      [{ name: 'gra-runner-config', mountPath: '/etc/gitlab-runner' }],
      'run reads the writable copy',
    );
    t.same(
      runner.args,
      ['run', '--config=/etc/gitlab-runner/config.toml'],
      'the run command is untouched',
    );
    t.match(
      runner.lifecycle.preStop.exec.command[2],
      /gitlab-runner unregister --all-runners --config '\/etc\/gitlab-runner\/config\.toml'/,
    );

    const record = JSON.parse(out.metadata.annotations[INJECTED]);
    t.match(record, {
      initContainer: 'register-runner',
      volume: 'gra-runner-config',
      config: '/etc/gitlab-runner/config.toml',
      preStopUnregister: true,
    });
    t.match(record.why, /no token/);

    t.match(plan.findings, [{ ruleId: 'GRA401', severity: 'info' }]);
    t.ok(
      plan.action === 'patch' &&
        plan.patch.some(
          (op) => op.path === '/metadata/annotations/gitlab-runner-admission~1injected',
        ),
      'RFC 6901: / escaped as ~1',
    );
    t.ok(
      plan.action === 'patch' &&
        plan.patch.some(
          (op) => op.path === '/spec/template/spec/containers/0/lifecycle' && op.op === 'add',
        ),
      'lifecycle created with its preStop in one op',
    );

    // re-admission (reinvocation, re-apply, UPDATE) of the stored object: nothing more to do
    const again = planInjection(out, { kind: 'Deployment', resolved });
    t.equal(again.action, 'none');
    t.equal(again.action === 'none' && again.reason, 'already-injected');

    // the validating rules accept the mutated workload
    const before = evaluateObject(obj, { kind: 'Deployment', resolved });
    t.ok(
      before.findings.some((f) => f.ruleId === 'GRA211' && f.severity === 'deny'),
      'before: run never authenticates (deny)',
    );
    const after = evaluateObject(out, { kind: 'Deployment', resolved });
    t.same(
      after.findings.filter((f) => f.severity === 'deny'),
      [],
      'after: no deny finding',
    );
    t.notOk(
      after.findings.some((f) => f.ruleId === 'GRA210'),
      'after: the config directory is writable',
    );
  },
);

t.test(
  'kubectl apply of the original manifest reverts the runner mount: restored, nothing else',
  async (t) => {
    const obj = annotate(deployment(), {
      'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens',
    });
    const stored = apply(obj, planInjection(obj, { kind: 'Deployment', resolved: refs() }));
    // a client-side apply merges the manifest's volumeMounts (keyed by mountPath) back in, while
    // the injected init container, volume and preStop are not in last-applied and stay
    const merged = structuredClone(stored);
    podSpec(merged).containers[0].volumeMounts = [
      { name: 'config', mountPath: '/etc/gitlab-runner' },
    ];
    const plan = planInjection(merged, { kind: 'Deployment', resolved: refs() });
    t.equal(plan.action, 'patch');
    if (plan.action !== 'patch') return;
    t.same(plan.patch, [
      {
        op: 'replace',
        path: '/spec/template/spec/containers/0/volumeMounts/0',
        value: { name: 'gra-runner-config', mountPath: '/etc/gitlab-runner' },
      },
    ]);
    const fixed = apply(merged, plan);
    t.same(fixed, stored, 'back to the stored shape');
    t.equal(planInjection(fixed, { kind: 'Deployment', resolved: refs() }).action, 'none');

    const noVolume = structuredClone(stored);
    podSpec(noVolume).volumes = podSpec(noVolume).volumes.filter(
      (v: any) => v.name !== 'gra-runner-config',
    );
    t.same(
      apply(noVolume, planInjection(noVolume, { kind: 'Deployment', resolved: refs() })),
      stored,
      'a dropped emptyDir comes back',
    );
  },
);

t.test(
  'the global settings reach the init step: concurrent = 10 is split out at runtime',
  async (t) => {
    const { verifySplit } = await import('../../src/mutation/split.js');
    const v = verifySplit(template.data['config.toml']);
    t.ok(v.ok);
    if (!v.ok) return;
    t.match(v.split.globals, /^concurrent = 10$/m);
    t.match(v.split.globals, /^check_interval = 3$/m);
    t.equal(v.split.runners.length, 1);
    t.notMatch(v.split.runners[0], /concurrent/);
    t.same(v.runners, [
      { url: 'https://gitlab.example.com', executor: 'kubernetes', name: 'ois-cfa-runner' },
    ]);
  },
);

t.test('no patch when nothing is needed or allowed', async (t) => {
  const ann = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };
  const reason = (p: InjectionPlan) => (p.action === 'none' ? p.reason : 'patch');

  t.equal(
    reason(planInjection(deployment(), { kind: 'Deployment', resolved: refs() })),
    'no-token-source',
    'no token source',
  );
  const noSource = planInjection(deployment(), { kind: 'Deployment', resolved: refs() });
  t.match(
    noSource.findings,
    [{ ruleId: 'GRA403', severity: 'warn' }],
    'says how to get an injection',
  );

  const glrt = template.data['config.toml'].replace(
    'executor = "kubernetes"',
    `token = "${SEED_AUTH_TOKEN}"\n  executor = "kubernetes"`,
  );
  t.equal(
    reason(
      planInjection(annotate(deployment(), ann), { kind: 'Deployment', resolved: refs(glrt) }),
    ),
    'not-needed',
    'a usable token: nothing to do',
  );
  t.equal(
    reason(
      planInjection(annotate(deployment(), ann), {
        kind: 'Deployment',
        resolved: refs(regConfig.data['config.toml']),
      }),
    ),
    'not-needed',
    'a registration token in config: the validating rules deny it, no injection papers over it',
  );

  t.equal(
    reason(
      planInjection(annotate(deployment(), { ...ann, 'gitlab-runner-admission/inject': 'false' }), {
        kind: 'Deployment',
        resolved: refs(),
      }),
    ),
    'opted-out',
  );

  const noLookups = planInjection(annotate(deployment(), ann), { kind: 'Deployment' });
  t.equal(reason(noLookups), 'no-lookups');
  t.match(noLookups.findings, [{ ruleId: 'GRA407' }]);

  for (const failure of ['not-found', 'forbidden', 'error'] as const) {
    const r: ResolvedRefs = {
      configMaps: new Map([['gitlab-runner-config', failure]]),
      secrets: new Map(),
    };
    const p = planInjection(annotate(deployment(), ann), { kind: 'Deployment', resolved: r });
    t.equal(reason(p), 'lookup-failed', `lookup ${failure}`);
    t.match(p.findings, [{ ruleId: 'GRA402', message: new RegExp(failure) }]);
  }

  t.equal(
    reason(
      planInjection(
        { kind: 'ConfigMap', metadata: { name: 'x' }, data: {} },
        { kind: 'ConfigMap', resolved: refs() },
      ),
    ),
    'not-a-workload',
  );
  t.equal(
    reason(
      planInjection(
        {
          kind: 'Deployment',
          metadata: { name: 'x' },
          spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
        },
        { kind: 'Deployment', resolved: refs() },
      ),
    ),
    'not-a-runner',
  );
});

t.test(
  'explicit key and a read Secret choose one flow; auth tokens get no preStop unregister',
  async (t) => {
    const base = { 'gitlab-runner-admission/token-secret': 'tok' };
    const o1 = annotate(deployment(), {
      ...base,
      'gitlab-runner-admission/runner-token-key': 'glrt',
    });
    const out = apply(o1, planInjection(o1, { kind: 'Deployment', resolved: refs() }));
    const init = podSpec(out).initContainers[0];
    t.same(
      init.env.filter((e: any) => e.valueFrom),
      [{ name: 'CI_SERVER_TOKEN', valueFrom: { secretKeyRef: { name: 'tok', key: 'glrt' } } }],
    );
    t.notOk(
      podSpec(out).containers[0].lifecycle,
      'no unregister for an authentication token: for glrtr-/t1_ tokens it would delete the runner itself (facts §2)',
    );

    const o2 = annotate(deployment(), base);
    const out2 = apply(
      o2,
      planInjection(o2, {
        kind: 'Deployment',
        resolved: refs(undefined, {
          tok: { 'runner-registration-token': SEED_REG_TOKEN, 'runner-token': '' },
        }),
      }),
    );
    t.same(
      podSpec(out2).initContainers[0].env.filter((e: any) => e.valueFrom),
      [
        {
          name: 'REGISTRATION_TOKEN',
          valueFrom: { secretKeyRef: { name: 'tok', key: 'runner-registration-token' } },
        },
      ],
    );
    t.ok(podSpec(out2).containers[0].lifecycle.preStop, 'registration token: preStop unregister');

    const swapped = planInjection(annotate(deployment(), base), {
      kind: 'Deployment',
      resolved: refs(undefined, { tok: { 'runner-registration-token': SEED_AUTH_TOKEN } }),
    });
    t.equal(
      swapped.action,
      'none',
      'an authentication token under the registration key is not wired into register',
    );
    t.match(swapped.findings, [{ ruleId: 'GRA405' }]);

    // the runner key is read first, and its token's kind is checked
    const read = (data: Record<string, string>, obj = annotate(deployment(), base)) => ({
      obj,
      plan: planInjection(obj, {
        kind: 'Deployment',
        resolved: refs(undefined, { tok: data }),
      }),
    });
    const auth = read({
      'runner-token': SEED_AUTH_TOKEN,
      'runner-registration-token': SEED_REG_TOKEN,
    });
    t.same(
      podSpec(apply(auth.obj, auth.plan)).initContainers[0].env.filter((e: any) => e.valueFrom),
      [
        {
          name: 'CI_SERVER_TOKEN',
          valueFrom: { secretKeyRef: { name: 'tok', key: 'runner-token' } },
        },
      ],
      'an authentication token in runner-token wins over a registration token beside it',
    );
    const wrongSlot = read({ 'runner-token': SEED_REG_TOKEN }).plan;
    t.equal(wrongSlot.action, 'none');
    t.match(
      JSON.stringify(wrongSlot.findings),
      /key runner-token does not hold an authentication token/,
    );
    const empty = read({ 'runner-token': ' ', 'runner-registration-token': '' }).plan;
    t.equal(empty.action, 'none');
    t.match(
      JSON.stringify(empty.findings),
      /has neither runner-token nor runner-registration-token set/,
    );
  },
);

t.test(
  'implicit token source: REGISTRATION_TOKEN from a secretKeyRef on the runner container',
  async (t) => {
    const obj = deployment();
    podSpec(obj).containers[0].env.push({
      name: 'REGISTRATION_TOKEN',
      valueFrom: {
        secretKeyRef: { name: 'gitlab-runner-tokens', key: 'runner-registration-token' },
      },
    });
    const plan = planInjection(obj, { kind: 'Deployment', resolved: refs() });
    const out = apply(obj, plan);
    const init = podSpec(out).initContainers[0];
    t.same(
      init.env.find((e: any) => e.name === 'REGISTRATION_TOKEN'),
      {
        name: 'REGISTRATION_TOKEN',
        valueFrom: {
          secretKeyRef: { name: 'gitlab-runner-tokens', key: 'runner-registration-token' },
        },
      },
    );
    t.same(
      init.env.find((e: any) => e.name === 'CI_SERVER_URL'),
      { name: 'CI_SERVER_URL', value: 'https://gitlab.example.com' },
      'plain non-secret env is inherited',
    );
    t.equal(
      evaluateObject(out, { kind: 'Deployment', resolved: refs() }).findings.filter(
        (f) => f.severity === 'deny',
      ).length,
      0,
    );

    const wrong = deployment();
    podSpec(wrong).containers[0].env.push({
      name: 'CI_SERVER_TOKEN',
      valueFrom: {
        secretKeyRef: { name: 'gitlab-runner-tokens', key: 'runner-registration-token' },
      },
    });
    const p2 = planInjection(wrong, { kind: 'Deployment', resolved: refs() });
    t.equal(p2.action, 'none', 'a token in the wrong slot is not copied into a registration step');
  },
);

t.test(
  'parents are created when missing; JSON Pointer escaping of the annotation key',
  async (t) => {
    const bare = annotate(deployment(), { 'gitlab-runner-admission/token-secret': 'tok' });
    delete bare.metadata.annotations;
    bare.spec.template.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'tok' };
    const plan = planInjection(bare, { kind: 'Deployment', resolved: refs() });
    t.equal(plan.action, 'patch', 'annotation on the pod template works too');
    if (plan.action !== 'patch') return;
    const annOp = plan.patch.find((op) => op.path === '/metadata/annotations');
    t.ok(
      annOp &&
        annOp.op === 'add' &&
        typeof (annOp as { value: Record<string, string> }).value[INJECTED] === 'string',
      'annotations created with the record in one op',
    );
    t.equal(
      plan.patch.filter((op) => op.path.startsWith('/metadata/annotations')).length,
      1,
      'no op writes into a value another op inserted',
    );
    t.ok(
      plan.patch.some((op) => op.path === '/spec/template/spec/initContainers'),
      'initContainers array created',
    );
    const out = apply(bare, plan);
    t.equal(podSpec(out).initContainers.length, 1);
    t.ok(out.metadata.annotations[INJECTED]);

    const withInit = annotate(deployment(), { 'gitlab-runner-admission/token-secret': 'tok' });
    podSpec(withInit).initContainers = [{ name: 'certs', image: 'busybox', command: ['true'] }];
    const p2 = planInjection(withInit, { kind: 'Deployment', resolved: refs() });
    const out2 = apply(withInit, p2);
    t.same(
      podSpec(out2).initContainers.map((c: any) => c.name),
      ['certs', 'register-runner'],
      'appended after existing init containers',
    );
  },
);

t.test('pod mode: a bare Pod gets the same shape at /spec', async (t) => {
  const d = annotate(deployment(), { 'gitlab-runner-admission/token-secret': 'tok' });
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'gitlab-runner', annotations: d.metadata.annotations },
    spec: structuredClone(podSpec(d)),
  };
  const plan = planInjection(pod, { kind: 'Pod', resolved: refs() });
  const out = apply(pod, plan);
  t.equal(out.spec.initContainers[0].name, 'register-runner');
  t.same(out.spec.containers[0].volumeMounts, [
    { name: 'gra-runner-config', mountPath: '/etc/gitlab-runner' },
  ]);
  t.equal(planInjection(out, { kind: 'Pod', resolved: refs() }).action, 'none');
});

t.test('a config the line scanner would split wrongly is refused, not mangled', async (t) => {
  const tricky = `concurrent = 2\n\n[[runners]]\n  name = "a"\n  url = "https://gitlab.example.com"\n  executor = "shell"\n  pre_build_script = """\n[[runners]]\n"""\n`;
  const plan = planInjection(
    annotate(deployment(), { 'gitlab-runner-admission/token-secret': 'tok' }),
    { kind: 'Deployment', resolved: refs(tricky) },
  );
  t.equal(plan.action, 'none');
  t.match(plan.findings, [{ ruleId: 'GRA404' }]);

  const noUrl = `[[runners]]\n  name = "a"\n  executor = "shell"\n`;
  const p2 = planInjection(
    annotate(deployment(), { 'gitlab-runner-admission/token-secret': 'tok' }),
    { kind: 'Deployment', resolved: refs(noUrl) },
  );
  t.match(p2.findings, [{ ruleId: 'GRA404', message: /url/ }]);
});

t.test(
  'proxy settings are copied into the init step; a proxy URL with credentials is not copied as a literal',
  async (t) => {
    const obj = annotate(deployment(), {
      'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens',
    });
    podSpec(obj).containers[0].env.push(
      { name: 'HTTPS_PROXY', value: 'http://proxy:3128' },
      { name: 'http_proxy', value: 'http://proxy.corp.example.com:3128' },
      { name: 'NO_PROXY', value: 'localhost,127.0.0.1,.svc,.cluster.local' },
      { name: 'ALL_PROXY', value: 'http://user:s3cretPassw0rd@proxy:3128' },
      { name: 'FTP_PROXY', value: 'user:pw@proxy:21' },
      { name: 'HTTP_PROXY', valueFrom: { secretKeyRef: { name: 'proxy', key: 'url' } } },
    );
    const plan = planInjection(obj, { kind: 'Deployment', resolved: refs() });
    t.equal(plan.action, 'patch');
    const init = podSpec(apply(obj, plan)).initContainers.find(
      (c: any) => c.name === INIT_CONTAINER_NAME,
    );
    const env = Object.fromEntries(init.env.map((e: any) => [e.name, e]));
    t.same(
      env.HTTPS_PROXY,
      { name: 'HTTPS_PROXY', value: 'http://proxy:3128' },
      'HTTPS_PROXY copied (was treated as secret-looking)',
    );
    t.same(env.http_proxy, { name: 'http_proxy', value: 'http://proxy.corp.example.com:3128' });
    t.same(env.NO_PROXY, { name: 'NO_PROXY', value: 'localhost,127.0.0.1,.svc,.cluster.local' });
    t.same(
      env.HTTP_PROXY,
      { name: 'HTTP_PROXY', valueFrom: { secretKeyRef: { name: 'proxy', key: 'url' } } },
      'a proxy from a Secret keeps its reference',
    );
    t.notOk(env.ALL_PROXY, 'user:pass@ URL not copied');
    t.notOk(env.FTP_PROXY, 'scheme-less user:pass@ not copied');
    t.notOk(JSON.stringify(init).includes('s3cretPassw0rd'));
  },
);

t.test(
  'issue 12: the split refuses runners lists the init step cannot cut; CRLF with comments still splits',
  async (t) => {
    const { verifySplit } = await import('../../src/mutation/split.js');
    for (const text of [
      '[[RUNNERS]]\n  url = "https://gitlab.example.com"\n  executor = "kubernetes"\n',
      '[["runner\u017f"]]\n  url = "https://gitlab.example.com"\n  executor = "kubernetes"\n',
      '[[runners]]\n  url = "https://gitlab.example.com"\n  executor = "kubernetes"\n[[Runners]]\n  url = "https://gitlab.example.com"\n  executor = "kubernetes"\n',
    ]) {
      const v = verifySplit(text);
      t.equal(v.ok, false, JSON.stringify(text));
    }
    const crlf = verifySplit(
      '# global\r\nconcurrent = 2 # two\r\n[[runners]] # the runner\r\n  url = "https://gitlab.example.com"\r\n  executor = "kubernetes"\r\n',
    );
    t.equal(crlf.ok, true, crlf.ok ? '' : crlf.reason);
  },
);
