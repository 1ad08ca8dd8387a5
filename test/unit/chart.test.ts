/**
 * The Helm chart, tested without helm (none can be installed here): values against the
 * schema, every `.Values.x` a template uses exists, every documented value is used, the
 * non-template files parse, and the safety properties of the templates (security context,
 * probes, PDB, webhook settings, RBAC scope) are present.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Ajv } from 'ajv';

const repo = path.resolve(import.meta.dirname, '../..');
const chartDir = path.join(repo, 'charts/gitlab-runner-admission');
const read = (rel: string): string => fs.readFileSync(path.join(chartDir, rel), 'utf8');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

const values = parseYaml(read('values.yaml')) as Obj;
const schema = JSON.parse(read('values.schema.json')) as Obj;
const templateFiles = fs.readdirSync(path.join(chartDir, 'templates')).sort();
const templates = new Map(templateFiles.map((f) => [f, read(`templates/${f}`)]));
const allTemplateText = [...templates.values()].join('\n');

function validator() {
  // Helm validates values with a draft-07 JSON Schema validator; ajv's default is draft-07.
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(schema);
}

function withOverride(patch: (v: Obj) => void): Obj {
  const v = structuredClone(values);
  patch(v);
  return v;
}

function get(obj: Json | undefined, keys: string[]): { found: boolean; value?: Json } {
  let cur: Json | undefined = obj;
  for (const k of keys) {
    if (!isObj(cur) || !Object.prototype.hasOwnProperty.call(cur, k)) return { found: false };
    cur = cur[k];
  }
  return { found: true, value: cur as Json };
}

t.test('Chart.yaml parses and tracks package.json version', async (t) => {
  const chart = parseYaml(read('Chart.yaml')) as Obj;
  const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
    version: string;
    name: string;
  };
  t.equal(chart.apiVersion, 'v2');
  t.equal(chart.name, pkg.name);
  t.equal(chart.type, 'application');
  t.match(String(chart.version), /^\d+\.\d+\.\d+/);
  t.equal(chart.appVersion, pkg.version, 'appVersion is the product version (image tag default)');
  t.match(String(chart.kubeVersion), />=1\.28/, 'matchConditions need 1.28+');
});

t.test('values.yaml is valid against values.schema.json', async (t) => {
  const validate = validator();
  const ok = validate(values);
  t.ok(ok, JSON.stringify(validate.errors));
});

t.test('the schema rejects values that would break the install', async (t) => {
  const validate = validator();
  const bad: Array<[string, (v: Obj) => void]> = [
    [
      'unknown top-level key (typo)',
      (v) => {
        v.replicas = 3;
      },
    ],
    [
      'mode off',
      (v) => {
        v.mode = 'off';
      },
    ],
    [
      'validating failurePolicy Maybe',
      (v) => {
        (v.webhook as Obj).validating = { failurePolicy: 'Maybe' };
      },
    ],
    [
      'timeoutSeconds above the apiserver maximum of 30',
      (v) => {
        (v.webhook as Obj).timeoutSeconds = 31;
      },
    ],
    [
      'zero replicas',
      (v) => {
        v.replicaCount = 0;
      },
    ],
    [
      'online verification without an allowlist',
      (v) => {
        (v.gitlab as Obj).verify = true;
      },
    ],
    [
      'allowlist entry that is not a URL',
      (v) => {
        (v.gitlab as Obj).allowlist = ['gitlab.example.com'];
      },
    ],
    [
      'unknown cert mode',
      (v) => {
        (v.certs as Obj).mode = 'dev';
      },
    ],
    [
      'port as a string',
      (v) => {
        (v.server as Obj).port = '8443';
      },
    ],
    [
      'digest without sha256',
      (v) => {
        (v.image as Obj).digest = 'latest';
      },
    ],
    [
      'bad namespace name',
      (v) => {
        (v.webhook as Obj).excludeNamespaces = ['Not_A_Namespace'];
      },
    ],
  ];
  for (const [name, patch] of bad) t.notOk(validate(withOverride(patch)), name);

  const good: Array<[string, (v: Obj) => void]> = [
    [
      'verify with allowlist',
      (v) => {
        (v.gitlab as Obj).verify = true;
        (v.gitlab as Obj).allowlist = ['https://gitlab.example.com'];
      },
    ],
    [
      'cert-manager mode with a ClusterIssuer',
      (v) => {
        v.certs = {
          mode: 'certManager',
          certManager: {
            issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
          },
        };
      },
    ],
    [
      'pod mode, warn, Ignore',
      (v) => {
        v.mode = 'warn';
        (v.webhook as Obj).podMode = true;
        (v.webhook as Obj).validating = { failurePolicy: 'Ignore' };
      },
    ],
    [
      'used as a subchart (helm adds global)',
      (v) => {
        v.global = { imageRegistry: 'x' };
      },
    ],
    [
      'PDB as a percentage',
      (v) => {
        v.podDisruptionBudget = { enabled: true, maxUnavailable: '50%' };
      },
    ],
  ];
  for (const [name, patch] of good) {
    const ok = validate(withOverride(patch));
    t.ok(ok, `${name}: ${JSON.stringify(validate.errors)}`);
  }
});

/** `.Values.a.b` and `$.Values.a.b` references in the templates (and NOTES.txt). */
function valuesRefs(): Map<string, string[]> {
  const refs = new Map<string, string[]>();
  for (const [file, text] of templates) {
    for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      const ref = m[1]!.slice(1);
      refs.set(ref, [...(refs.get(ref) ?? []), file]);
    }
  }
  return refs;
}

t.test('every .Values path a template uses exists in values.yaml', async (t) => {
  const refs = valuesRefs();
  t.ok(refs.size > 30, `found ${refs.size} references (the regex sees the templates)`);
  for (const [ref, files] of refs) {
    t.ok(
      get(values, ref.split('.')).found,
      `.Values.${ref} (used in ${[...new Set(files)].join(', ')}) is in values.yaml`,
    );
  }
});

t.test(
  'every value in values.yaml is used by a template (no documented knob that does nothing)',
  async (t) => {
    const refs = [...valuesRefs().keys()];
    // Leaves under these keys are free-form Kubernetes fields passed through with toYaml.
    const passThrough = new Set([
      'podSecurityContext',
      'securityContext',
      'resources',
      'affinity',
      'nodeSelector',
      'tolerations',
      'podAnnotations',
      'podLabels',
      'imagePullSecrets',
      'extraEnv',
      'serviceAccount.annotations',
      'metrics.serviceMonitor.labels',
    ]);
    const leaves: string[] = [];
    const walk = (v: Json, p: string[]): void => {
      const key = p.join('.');
      if (passThrough.has(key) || !isObj(v) || Object.keys(v).length === 0) {
        leaves.push(key);
        return;
      }
      for (const [k, child] of Object.entries(v)) walk(child, [...p, k]);
    };
    walk(values, []);
    for (const leaf of leaves) {
      const used = refs.some((r) => r === leaf || leaf.startsWith(r + '.'));
      t.ok(used, `${leaf} is read by a template`);
    }
  },
);

t.test('non-template files parse; helpers referenced exist', async (t) => {
  t.doesNotThrow(() => parseYaml(read('Chart.yaml')));
  t.doesNotThrow(() => parseYaml(read('values.yaml')));
  t.doesNotThrow(() => JSON.parse(read('values.schema.json')));
  t.ok(fs.existsSync(path.join(chartDir, 'README.md')), 'chart README');
  t.ok(templates.has('NOTES.txt'), 'NOTES.txt');

  const defined = new Set([...allTemplateText.matchAll(/define "([^"]+)"/g)].map((m) => m[1]!));
  const included = new Set([...allTemplateText.matchAll(/include "([^"]+)"/g)].map((m) => m[1]!));
  for (const name of included) t.ok(defined.has(name), `include "${name}" has a define`);

  for (const [file, text] of templates) {
    const open = (text.match(/\{\{/g) ?? []).length;
    const close = (text.match(/\}\}/g) ?? []).length;
    t.equal(open, close, `${file}: balanced {{ }}`);
    // Every if/range/with/define is closed by an end (helm would fail to parse otherwise).
    const blocks = (text.match(/\{\{-?\s*(if|range|with|define)\b/g) ?? []).length;
    const ends = (text.match(/\{\{-?\s*end\s*-?\}\}/g) ?? []).length;
    t.equal(blocks, ends, `${file}: every block has an end`);
  }
});

t.test(
  'Deployment: hardened pod, probes on the product health endpoints, no shell needed',
  async (t) => {
    const dep = templates.get('deployment.yaml')!;
    const psc = values.podSecurityContext as Obj;
    const sc = values.securityContext as Obj;
    t.equal(psc.runAsNonRoot, true, 'pod runAsNonRoot');
    t.equal(psc.runAsUser, 65532, 'numeric user, same as the Dockerfile USER');
    t.same(psc.seccompProfile, { type: 'RuntimeDefault' });
    t.equal(sc.readOnlyRootFilesystem, true);
    t.equal(sc.allowPrivilegeEscalation, false);
    t.same((sc.capabilities as Obj).drop, ['ALL']);
    t.equal(sc.runAsNonRoot, true);
    t.match(dep, /securityContext:\n\s+\{\{- toYaml \.Values\.podSecurityContext/);
    t.match(dep, /securityContext:\n\s+\{\{- toYaml \.Values\.securityContext/);

    for (const [probe, p] of [
      ['startupProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
      ['livenessProbe', '/healthz'],
    ] as const) {
      const block = new RegExp(
        `${probe}:\\n\\s+httpGet:\\n\\s+path: ${p}\\n\\s+port: https\\n\\s+scheme: HTTPS`,
      );
      t.match(dep, block, `${probe} GET ${p} over HTTPS`);
    }
    t.notMatch(dep, /exec:|command:|\/bin\/sh/, 'no exec probes or shell commands');
    t.match(dep, /GRA_HOST\n\s+value: \{\{ \.Values\.server\.host/);
    t.equal((values.server as Obj).host, '0.0.0.0', 'reachable on the pod IP');
    t.match(dep, /maxUnavailable: 0/, 'rolling update never drops below the desired replicas');
    t.match(dep, /topologySpreadConstraints:/);
    t.match(dep, /priorityClassName/);
    t.equal(values.replicaCount, 2);
    t.ok(
      (values.terminationGracePeriodSeconds as number) >
        ((values.server as Obj).shutdownGraceSeconds as number),
      'the drain finishes before SIGKILL',
    );
    // The read-only root filesystem needs writable mounts for /tmp and the cert directory.
    t.match(dep, /mountPath: \/tmp/);
    t.match(dep, /name: GRA_CERT_DIR\n\s+value: \/etc\/gitlab-runner-admission\/tls/);
    t.match(dep, /mountPath: \/etc\/gitlab-runner-admission\/tls/);
  },
);

t.test('every GRA_* variable the chart sets is read by src/settings/settings.ts', async (t) => {
  const settings = fs.readFileSync(path.join(repo, 'src/settings/settings.ts'), 'utf8');
  const set = [
    ...new Set(
      [...templates.get('deployment.yaml')!.matchAll(/name: (GRA_[A-Z_]+)/g)].map((m) => m[1]!),
    ),
  ];
  t.ok(set.length >= 15, `the chart sets ${set.length} settings`);
  for (const name of set) t.match(settings, new RegExp(`\\b${name}\\b`), `${name} is a setting`);
});

t.test('PodDisruptionBudget and Service', async (t) => {
  const pdb = templates.get('pdb.yaml')!;
  t.match(pdb, /apiVersion: policy\/v1\nkind: PodDisruptionBudget/);
  t.match(pdb, /maxUnavailable: \{\{ \.Values\.podDisruptionBudget\.maxUnavailable \}\}/);
  t.equal((values.podDisruptionBudget as Obj).enabled, true);
  const svc = templates.get('service.yaml')!;
  t.match(svc, /port: \{\{ \.Values\.service\.port \}\}\n\s+targetPort: https/);
  t.equal((values.service as Obj).port, 443);
});

t.test(
  'webhook configurations: v1 reviews, side effects, timeouts, failure policies, scope',
  async (t) => {
    const v =
      templates.get('validatingwebhookconfiguration.yaml')! + templates.get('_webhook.tpl')!;
    const m = templates.get('mutatingwebhookconfiguration.yaml')!;
    for (const [name, text] of [
      ['validating', v],
      ['mutating', m],
    ] as const) {
      t.match(text, /admissionReviewVersions: \["v1"\]/, `${name}: v1 only`);
      t.match(
        text,
        /timeoutSeconds: \{\{ \$?(root)?\.Values\.webhook\.timeoutSeconds \}\}/,
        `${name}: timeout from values`,
      );
      t.match(
        text,
        /key: kubernetes\.io\/metadata\.name\n\s+operator: NotIn/,
        `${name}: namespaces excluded`,
      );
      t.match(text, /matchPolicy: Equivalent/);
      t.notMatch(text, /"DELETE"|"CONNECT"|"\*"/, `${name}: CREATE/UPDATE only, no wildcards`);
    }
    t.match(
      v,
      /sideEffects: \{\{ ternary "NoneOnDryRun" "None" \$root\.Values\.gitlab\.verify \}\}/,
    );
    t.match(m, /sideEffects: None\n/);
    t.match(m, /reinvocationPolicy: IfNeeded/);
    t.match(v, /failurePolicy: \{\{ \$root\.Values\.webhook\.validating\.failurePolicy \}\}/);
    t.match(m, /failurePolicy: \{\{ \.Values\.webhook\.mutating\.failurePolicy \}\}/);
    const wh = values.webhook as Obj;
    t.equal(wh.timeoutSeconds, 5);
    t.equal((wh.validating as Obj).failurePolicy, 'Fail');
    t.equal((wh.mutating as Obj).failurePolicy, 'Ignore');

    // One validating webhook per mode, each on its own path, chosen by an admin-only namespace label.
    t.match(
      templates.get('validatingwebhookconfiguration.yaml')!,
      /range \$mode := list "" "enforce" "warn" "audit"/,
    );
    t.match(
      v,
      /path: \{\{ if \.mode \}\}\/validate\/\{\{ \.mode \}\}\{\{ else \}\}\/validate\{\{ end \}\}/,
    );
    t.match(v, /key: gitlab-runner-admission\/mode\n\s+\{\{- if \.mode \}\}\n\s+operator: In/);
    t.match(
      v,
      /operator: NotIn\n\s+values: \["enforce", "warn", "audit"\]/,
      'the default webhook also serves namespaces with a mistyped label, so a typo never disables checks',
    );
    t.match(m, /path: \/mutate/);

    const helpers = templates.get('_helpers.tpl')!;
    t.match(
      helpers,
      /list "kube-system" \.Release\.Namespace/,
      'kube-system and the release namespace are always excluded',
    );

    // cert-manager wiring
    for (const text of [templates.get('validatingwebhookconfiguration.yaml')!, m]) {
      t.match(
        text,
        /cert-manager\.io\/inject-ca-from: \{\{ printf "%s\/%s" \.Release\.Namespace \(include "gra\.fullname" \.\) \}\}/,
      );
    }
    const cm = templates.get('certmanager.yaml')!;
    t.match(
      cm,
      /kind: Certificate\nmetadata:\n\s+name: \{\{ \$fullname \}\}\n/,
      'serving Certificate is named <fullname>, as inject-ca-from says',
    );
    t.match(
      cm,
      /\{\{ \$fullname \}\}\.\{\{ \.Release\.Namespace \}\}\.svc\n/,
      'SAN <svc>.<ns>.svc',
    );
  },
);

t.test('RBAC grants only what the product uses', async (t) => {
  const rbac = templates.get('rbac.yaml')!;
  t.notMatch(rbac, /"list"|"watch"|"\*"|"delete"/, 'no list, watch, delete or wildcards');
  // Cluster-wide Secret reads exist only inside the readSecrets conditional.
  const clusterRole = rbac.split('\n---\n')[0]!;
  const secretsBlock = /\{\{- if \.Values\.kube\.readSecrets \}\}([\s\S]*?)\{\{- end \}\}/.exec(
    clusterRole,
  );
  t.ok(secretsBlock, 'readSecrets conditional');
  t.match(secretsBlock![1]!, /resources: \["secrets"\]\n\s+verbs: \["get"\]/);
  t.equal(
    clusterRole.replace(secretsBlock![0], '').match(/secrets/g),
    null,
    'no other Secret access cluster-wide',
  );
  t.match(
    clusterRole,
    /\{\{- if \.Values\.kube\.lookups \}\}[\s\S]*?resources: \["configmaps"\]\n\s+verbs: \["get"\]/,
  );
  t.match(
    clusterRole,
    /resources: \["validatingwebhookconfigurations", "mutatingwebhookconfigurations"\]\n\s+resourceNames: \[\{\{ \$fullname \| quote \}\}\]\n\s+verbs: \["get", "patch"\]/,
    'webhook configurations by name only',
  );
  t.match(
    rbac,
    /kind: Role\n[\s\S]*resourceNames: \[\{\{ include "gra\.tlsSecretName" \. \| quote \}\}\]\n\s+verbs: \["get", "update"\]/,
    'own cert Secret by name, in the release namespace',
  );
  t.equal((values.kube as Obj).readSecrets, false, 'Secret reads are off by default');
});

t.test(
  'NOTES.txt and the chart README tell the user how to check it and how to run it under GitOps',
  async (t) => {
    const notes = templates.get('NOTES.txt')!;
    t.match(notes, /kubectl -n default create configmap gra-smoke-test --dry-run=server/);
    t.match(
      notes,
      /GR1348941[A-Za-z0-9_-]{20}"/,
      'the smoke test uses a registration-token-shaped fake',
    );
    const readme = read('README.md');
    t.match(readme, /ignoreDifferences:/);
    t.match(readme, /\.webhooks\[\]\?\.clientConfig\.caBundle/);
    // The values table lists every top-level value.
    for (const key of Object.keys(values))
      t.match(readme, new RegExp('`' + key.replace('.', '\\.')), `README documents ${key}`);
  },
);
