import t from 'tap';
import { exceedsJsonValues } from '../../src/server/json-values.js';

const over = (s: string, limit: number) => exceedsJsonValues(Buffer.from(s), limit);

t.test('counts [, { and , outside strings, and stops past the limit', async (t) => {
  t.equal(over('{"a":[1,2,3]}', 4), false, '{ [ , , = 4');
  t.equal(over('{"a":[1,2,3]}', 3), true);
  t.equal(over('[' + '{},'.repeat(999) + '{}]', 1000), true, 'a thousand objects in an array');
  t.equal(over('"' + ',[{'.repeat(5000) + '"', 10), false, 'inside a string nothing counts');
  t.equal(over('["a\\",[{,", 1]', 2), false, 'an escaped quote does not end the string');
  t.equal(over('["a\\\\",[{,", 1]', 2), true, 'an escaped backslash does, and what follows counts');
  t.equal(over('', 0), false);
});

t.test('the limit is far above what real objects hold', async (t) => {
  const { HOSTILE } = await import('../helpers/hostile.mjs');
  const bodies = Object.fromEntries(
    HOSTILE.map((h: { name: string; make: () => unknown }) => [
      h.name,
      Buffer.from(JSON.stringify(h.make())),
    ]),
  );
  // the workloads of issue 14 are still analysed (and cut by time if they must be)
  t.equal(exceedsJsonValues(bodies['3.1 MB copy storm']!, 250_000), false);
  t.equal(exceedsJsonValues(bodies['copy storm (2,500 init cp + 1,200 runners)']!, 250_000), false);
  t.equal(
    exceedsJsonValues(bodies['1 MiB config.toml with a 500k-element array']!, 250_000),
    false,
  );
  t.equal(exceedsJsonValues(bodies['3 MB of a million empty objects']!, 250_000), true);
  t.equal(exceedsJsonValues(bodies['3 MiB body with a 1.5M-element array']!, 250_000), true);
});
