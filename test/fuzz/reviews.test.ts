import t from 'tap';
import fc from 'fast-check';
import { parseReview } from '../../src/admission/review.js';
import {
  contractViolation,
  fixtureReviews,
  harness,
  leaks,
  runs,
  send,
  tokenArb,
  type Planted,
} from './harness.js';

/**
 * Random and mutated AdmissionReviews against /validate, /validate/<mode> and /mutate: every
 * well-formed review gets an answer the apiserver accepts, anything else a 4xx, never a 5xx or a
 * hang, and a planted token never shows up in a response or a log line.
 */

const h = await harness();
t.teardown(() => h.close());
const fixtures = fixtureReviews();
const WEBHOOKS = ['/validate', '/validate/warn', '/validate/audit', '/mutate'] as const;
const webhookOf = (u: string) => (u.startsWith('/mutate') ? 'mutate' : 'validate');

/** Every JSON path in a value (arrays and objects), for picking a mutation site. */
function paths(
  v: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (out.length > 2000) return out;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object')
    for (const k of Object.keys(v)) paths((v as Record<string, unknown>)[k], [...prefix, k], out);
  return out;
}

type Op = { kind: 'set' | 'delete' | 'token' | 'wrap'; site: number; value: unknown };

function mutate(doc: any, ops: Op[], planted: Planted[]): any {
  const d = structuredClone(doc);
  for (const op of ops) {
    const all = paths(d).filter((p) => p.length > 0);
    if (all.length === 0) break;
    const p = all[op.site % all.length]!;
    let parent: any = d;
    for (const k of p.slice(0, -1)) parent = parent[k];
    const last = p[p.length - 1]!;
    if (op.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (op.kind === 'token') {
      // a token where a string was: config.toml text, env values, annotations, ...
      const tok = planted[op.site % planted.length]!;
      const cur = parent[last];
      parent[last] =
        typeof cur === 'string'
          ? cur.slice(0, op.site % (cur.length + 1)) +
            tok.token +
            cur.slice(op.site % (cur.length + 1))
          : tok.token;
    } else if (op.kind === 'wrap') {
      parent[last] = [parent[last]];
    } else {
      parent[last] = op.value;
    }
  }
  return d;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('set', 'delete', 'token', 'token', 'wrap'),
  site: fc.nat(),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom(
      null,
      '',
      'CREATE',
      'DELETE',
      'ConfigMap',
      'Secret',
      'Deployment',
      'v1',
      'apps',
      true,
      0,
      -1,
      '__proto__',
    ),
  ),
});

t.test('mutated captured reviews: contract holds, no token leaks', async (t) => {
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat(fixtures.length - 1),
      fc.array(opArb, { minLength: 1, maxLength: 6 }),
      fc.array(tokenArb, { minLength: 1, maxLength: 3 }),
      fc.constantFrom(...WEBHOOKS),
      async (fi, ops, planted, url) => {
        const body = mutate(fixtures[fi], ops, planted);
        const before = h.logs.length;
        const a = await send(h, url, JSON.stringify(body));
        const v = contractViolation(webhookOf(url), body, a);
        if (v) throw new Error(v);
        // Malformed envelopes are the next test's subject; here: every review the apiserver could send.
        if (!parseReview(body).ok) return;
        const leak = leaks(a.body, planted) ?? leaks(h.logs.slice(before).join(''), planted);
        // Identifiers the apiserver sets (uid, kind, name, namespace) are logged as they are: a token the
        // mutation wrote into one of those is printed as that identifier, which is not this property.
        const r = body?.request;
        const names = JSON.stringify([
          r?.name,
          r?.namespace,
          r?.object?.metadata?.name,
          r?.object?.metadata?.namespace,
          r?.uid,
          r?.kind?.kind,
        ]);
        if (leak && !names.includes(leak)) {
          const text = a.body.includes(leak) ? a.body : h.logs.slice(before).join('');
          const i = text.indexOf(leak);
          throw new Error(
            `token substring ${leak} printed in the ${text === a.body ? 'response' : 'log'}: …${text.slice(Math.max(0, i - 160), i + 40)}…`,
          );
        }
        checked++;
      },
    ),
    runs(300),
  );
  t.ok(checked > 0, `${checked} mutated reviews checked`);
});

t.test('random JSON bodies: a 4xx or a valid answer, never a 5xx or a hang', async (t) => {
  const reviewish = fc.record(
    {
      apiVersion: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1', 'v1'),
      kind: fc.constantFrom('AdmissionReview', 'Other'),
      request: fc.record(
        {
          uid: fc.oneof(fc.uuid(), fc.string(), fc.integer()),
          kind: fc.record(
            {
              group: fc.constantFrom('', 'apps'),
              version: fc.constant('v1'),
              kind: fc.constantFrom('ConfigMap', 'Secret', 'Deployment', 'Pod', 'StatefulSet', 'X'),
            },
            { requiredKeys: [] },
          ),
          operation: fc.constantFrom('CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'X'),
          object: fc.oneof(
            fc.jsonValue({ maxDepth: 4 }),
            fc.record({
              kind: fc.constantFrom('ConfigMap', 'Secret'),
              data: fc.dictionary(fc.string(), fc.string()),
            }),
          ),
          namespace: fc.string(),
          dryRun: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
          subResource: fc.constantFrom(undefined, 'status', ''),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(reviewish, fc.jsonValue({ maxDepth: 4 })),
      fc.constantFrom(...WEBHOOKS),
      async (body, url) => {
        const a = await send(h, url, JSON.stringify(body) ?? 'null');
        const v = contractViolation(webhookOf(url), body, a);
        if (v) throw new Error(v);
      },
    ),
    runs(300),
  );
  t.pass('random bodies answered within contract');
});

t.test('raw bytes: invalid JSON, odd encodings, wrong content types', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string({ unit: 'binary' }),
        fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)),
        fc.jsonValue().map((v) => '\uFEFF' + JSON.stringify(v)),
      ),
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-16',
        'text/plain',
        'application/yaml',
      ),
      fc.constantFrom(...WEBHOOKS),
      async (payload, ct, url) => {
        const a = await send(h, url, payload, ct);
        if (a.status >= 500)
          throw new Error(`5xx for raw body: ${a.status} ${a.body.slice(0, 200)}`);
        if (a.status === 200) {
          // only possible when the bytes happen to be a well-formed review
          const v = contractViolation(webhookOf(url), JSON.parse(payload.toString()), a);
          if (v) throw new Error(v);
        }
      },
    ),
    runs(300),
  );
  t.pass('raw bodies answered with 4xx or a valid review response');
});

t.test(
  'a malformed envelope never echoes a token in its 400 reason or log line',
  // parseReview once quoted the offending value; now it echoes only values shaped like an
  // apiVersion, a kind or an operation, and otherwise tells the type and length.
  async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(fixtures.length - 1),
        tokenArb,
        fc.constantFrom('operation', 'uid', 'kind', 'apiVersion'),
        async (fi, tok, field) => {
          const body = structuredClone(fixtures[fi]);
          if (field === 'operation') body.request.operation = 'C' + tok.token;
          else if (field === 'uid') body.request.uid = { id: tok.token };
          else if (field === 'kind') body.request.kind = tok.token;
          else body.apiVersion = tok.token;
          const before = h.logs.length;
          const a = await send(h, '/validate', JSON.stringify(body));
          if (a.status !== 400) throw new Error(`expected 400, got ${a.status}`);
          const leak = leaks(a.body, [tok]) ?? leaks(h.logs.slice(before).join(''), [tok]);
          if (leak) throw new Error(`token substring ${leak} echoed for a bad ${field}`);
        },
      ),
      runs(50),
    );
    t.pass();
  },
);
