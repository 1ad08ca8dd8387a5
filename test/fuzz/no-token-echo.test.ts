import t from 'tap';
import fc from 'fast-check';
import {
  contractViolation,
  harness,
  runs,
  send,
  wrapReview,
  type Harness,
  type Planted,
} from './harness.js';

/**
 * Never echo a token (issue 12): tokens of every kind planted in every user-written string of
 * ConfigMaps, Secrets and workloads — object names, annotations, data keys, runner names, unknown
 * TOML keys, container names, env names, args — and no whole token (no 8-character window of its
 * secret part, which is stricter) appears in any response or log line, in enforce, warn and audit
 * mode, on /validate and /mutate.
 */

const MODES = ['enforce', 'warn', 'audit'] as const;
const hs = new Map<string, Harness>();
for (const m of MODES) hs.set(m, await harness({ GRA_MODE: m }));
t.teardown(async () => {
  for (const h of hs.values()) await h.close();
});

const ALNUM = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const HEX = '0123456789abcdef';
const body = (alphabet: string, n: number) =>
  fc.array(fc.constantFrom(...alphabet), { minLength: n, maxLength: n }).map((a) => a.join(''));

/** Every kind the classifier knows (SPEC §1): registration, glrt-/glrtr-/scoped/instance-prefixed auth, legacy 20 and hex30, other GitLab tokens. */
const planted: fc.Arbitrary<Planted> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(
        'GR1348941',
        'glrt-',
        'glrt-t1_',
        'glrt-t2_',
        'glrtr-',
        't3_',
        'acme-glrt-',
        'glpat-',
        'gldt-',
        'glptt-',
        'glcbt-',
        '',
      ),
      body(ALNUM, 20),
    )
    .map(([p, s]) => ({ token: p + s, secret: s })),
  body(HEX, 30).map((s) => ({ token: s, secret: s })),
);

/** A planted token inside some surrounding text, or alone. */
const around = (p: Planted) =>
  fc
    .tuple(
      fc.constantFrom('', 'runner-', 'x', 'my.', 'a b ', '"'),
      fc.constantFrom('', '-x', '.toml', ' tail', '"'),
    )
    .map(([a, b]) => a + p.token + b);

const configToml = (s: string[]) =>
  `concurrent = 1\n${s[0]} = 1\n[[runners]]\n  name = ${JSON.stringify(s[1])}\n  url = "https://gitlab.example.com"\n  token = ${JSON.stringify(s[2])}\n  ${JSON.stringify(s[3])} = "v"\n  [runners.${JSON.stringify(s[4])}]\n    x = 1\n`;

type Kind = 'ConfigMap' | 'Secret' | 'Deployment' | 'Pod';

function objectOf(kind: Kind, s: string[]): any {
  const meta = {
    name: s[5],
    namespace: s[6],
    annotations: { [s[7]!]: s[8], 'gitlab-runner-admission/register': s[9] },
    labels: { app: s[10] },
  };
  const b64 = (x: string) => Buffer.from(x).toString('base64');
  if (kind === 'ConfigMap')
    return {
      apiVersion: 'v1',
      kind,
      metadata: meta,
      data: { 'config.toml': configToml(s), [`${s[11]}.toml`]: configToml(s.slice(1)) },
    };
  if (kind === 'Secret') {
    return {
      apiVersion: 'v1',
      kind,
      metadata: meta,
      data: {
        'config.toml': b64(configToml(s)),
        'runner-token': b64(s[12]!),
        'runner-registration-token': b64(s[13]!),
        [s[14]!]: b64(s[15]!),
      },
    };
  }
  const pod = {
    containers: [
      {
        name: s[16],
        image: 'gitlab/gitlab-runner:v17.0.0',
        args: ['run', '--config', `/etc/gitlab-runner/${s[17]}.toml`, s[18]],
        env: [
          { name: 'CI_SERVER_TOKEN', value: s[19] },
          { name: 'REGISTRATION_TOKEN', value: s[20] },
          { name: s[21], value: s[22] },
          { name: 'RUNNER_TOKEN', valueFrom: { secretKeyRef: { name: s[23], key: s[24] } } },
        ],
        volumeMounts: [{ name: 'config', mountPath: '/etc/gitlab-runner', readOnly: true }],
      },
    ],
    initContainers: [
      {
        name: 'register',
        image: 'gitlab/gitlab-runner:v17.0.0',
        command: ['gitlab-runner', 'register', '--registration-token', s[25]!, '--name', s[26]!],
      },
    ],
    volumes: [
      {
        name: 'config',
        configMap: { name: s[27], items: [{ key: 'config.toml', path: `${s[28]}.toml` }] },
      },
    ],
  };
  if (kind === 'Pod') return { apiVersion: 'v1', kind, metadata: meta, spec: pod };
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: meta,
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'r' } },
      template: { metadata: { labels: { app: 'r' } }, spec: pod },
    },
  };
}

const FIELDS = 29;
const caseArb = fc.array(planted, { minLength: 1, maxLength: 4 }).chain((tokens) =>
  fc.record({
    tokens: fc.constant(tokens),
    strings: fc.array(
      fc.oneof(...tokens.map(around), fc.constantFrom('plain', 'gitlab-runner-config', 'x')),
      { minLength: FIELDS, maxLength: FIELDS },
    ),
    kind: fc.constantFrom<Kind>('ConfigMap', 'Secret', 'Deployment', 'Pod'),
    mode: fc.constantFrom(...MODES),
    url: fc.constantFrom('/validate', '/mutate'),
  }),
);

/** No 8-character window of any planted secret: the product shows a prefix and at most the last 4. */
function leak(text: string, tokens: readonly Planted[]): string | undefined {
  for (const p of tokens) {
    for (let i = 0; i + 8 <= p.secret.length; i++)
      if (text.includes(p.secret.slice(i, i + 8))) return p.secret.slice(i, i + 8);
  }
  return undefined;
}

t.test(
  'no planted token is echoed in any response or log line, any mode, /validate and /mutate',
  async (t) => {
    let n = 0;
    let denied = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        n++;
        const h = hs.get(c.mode)!;
        const obj = objectOf(c.kind, c.strings);
        const body = wrapReview(obj, `uid-${n}`, {
          kind: { group: c.kind === 'Deployment' ? 'apps' : '', version: 'v1', kind: c.kind },
          namespace: 'ns',
          name: 'obj',
        });
        const before = h.logs.length;
        const a = await send(h, c.url, JSON.stringify(body));
        const v = contractViolation(c.url === '/mutate' ? 'mutate' : 'validate', body, a);
        if (v) throw new Error(v);
        if (a.json?.response?.allowed === false) denied++;
        // the patch is the object's own data being written back (base64), not an echo
        const shown = JSON.stringify({ ...a.json?.response, patch: undefined });
        const logs = h.logs.slice(before).join('');
        const w = leak(shown, c.tokens) ?? leak(logs, c.tokens);
        if (w) {
          const text = shown.includes(w) ? shown : logs;
          const i = text.indexOf(w);
          throw new Error(
            `secret piece ${w} printed in the ${text === shown ? 'response' : 'log'}: …${text.slice(Math.max(0, i - 120), i + 40)}…`,
          );
        }
      }),
      runs(400),
    );
    t.ok(
      denied > 0,
      `some of the ${n} reviews were denied, so messages were really produced (${denied})`,
    );
  },
);
