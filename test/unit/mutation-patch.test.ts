import t from 'tap';
import fjp from 'fast-json-patch';
import { PatchBuilder, encodePatch, escapeSegment, pointer } from '../../src/mutation/patch.js';
import { TtlCache } from '../../src/util/ttl-cache.js';

t.test('RFC 6901 escaping round-trips', async (t) => {
  t.equal(escapeSegment('a/b~c'), 'a~1b~0c', '~ first, then /');
  t.equal(escapeSegment('~1'), '~01', 'a literal ~1 is not mistaken for an escaped /');
  t.equal(
    pointer(['metadata', 'annotations', 'gitlab-runner-admission/injected']),
    '/metadata/annotations/gitlab-runner-admission~1injected',
  );
  // RFC 6901 §4 decoding: ~1 first, then ~0
  const segmentsOf = (ptr: string) =>
    ptr
      .slice(1)
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  for (const segs of [['a/b', '~', '~1', '', '0'], ['x']]) t.same(segmentsOf(pointer(segs)), segs);
  const doc = { m: { 'a/b~c': 1 } };
  t.same(
    fjp.getValueByPointer(doc, pointer(['m', 'a/b~c'])),
    1,
    'a real implementation resolves our pointer',
  );
});

t.test('PatchBuilder creates parents once and never aliases op values', async (t) => {
  const doc: any = { metadata: { annotations: null }, spec: { containers: [{ name: 'c' }] } };
  const b = new PatchBuilder(doc);
  b.setKey(['metadata', 'annotations'], 'k/1', 'v1');
  b.setKey(['metadata', 'annotations'], 'k2', 'v2');
  b.setKey(['spec', 'containers', 0, 'lifecycle'], 'preStop', { exec: {} });
  b.append(['spec', 'volumes'], { name: 'a' });
  b.append(['spec', 'volumes'], { name: 'b' });
  b.append(['spec', 'containers'], { name: 'd' });
  const before = JSON.stringify(b.ops);
  const out = fjp.applyPatch(
    structuredClone(doc),
    structuredClone(b.ops) as fjp.Operation[],
    true,
    false,
  ).newDocument as any;
  t.same(
    out.metadata.annotations,
    { 'k/1': 'v1', k2: 'v2' },
    'null annotations replaced, then filled',
  );
  t.same(out.spec.containers[0].lifecycle, { preStop: { exec: {} } });
  t.same(out.spec.volumes, [{ name: 'a' }, { name: 'b' }], 'array created, then appended');
  t.same(
    out.spec.containers.map((c: any) => c.name),
    ['c', 'd'],
  );
  t.equal(JSON.stringify(b.ops), before);
  t.equal(
    JSON.parse(Buffer.from(encodePatch(b.ops), 'base64').toString('utf8')).length,
    b.ops.length,
    'base64 of the JSON',
  );
});

t.test('TtlCache: expiry, size bound, TTL 0 disables', async (t) => {
  let now = 0;
  const c = new TtlCache<number>({ maxEntries: 2, defaultTtlMs: 100, now: () => now });
  c.set('a', 1);
  c.set('b', 2);
  c.set('c', 3);
  t.equal(c.get('a'), undefined, 'oldest evicted past the bound');
  t.equal(c.get('b'), 2);
  now = 100;
  t.equal(c.get('b'), undefined, 'expired at ttl');
  const off = new TtlCache<number>({ maxEntries: 10, now: () => now });
  off.set('a', 1);
  t.equal(off.get('a'), undefined);
  off.set('a', 1, 50);
  t.equal(off.get('a'), 1, 'a ttl given to set overrides the default');
  now = 150;
  t.equal(off.get('a'), undefined, 'per-entry ttl expires');
});
