import t from 'tap';
import fc from 'fast-check';
import { parseRunnerConfig } from '../../src/config/index.js';
import { checkRunnerConfig } from '../../src/rules/config/check.js';
import {
  ORACLE_SKIP,
  startOracle,
  type Oracle,
  type OracleResult,
} from '../helpers/toml-oracle.js';
import { runs } from './harness.js';

/**
 * Differential property (issue 12): for generated config.toml texts, the (runner, token) pairs
 * gitlab-runner reads — BurntSushi/toml decoding into gitlab-runner's structs, run for real by
 * test/oracle/runner-config — are exactly the pairs the rules evaluate, and "gitlab-runner
 * refuses the file" ⇔ a config finding that denies it as unloadable (GRA004/GRA010).
 * Known, documented differences (docs/parity.md) are kept out of the generator.
 */

const ALNUM = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const secret = fc
  .array(fc.constantFrom(...ALNUM), { minLength: 20, maxLength: 20 })
  .map((a) => a.join(''));

const tokenValue = fc.oneof(
  secret.map((s) => `GR1348941${s}`),
  secret.map((s) => `glrt-${s}`),
  secret.map((s) => `glrt-t1_${s}`),
  secret,
  fc.constantFrom(
    '',
    'YOUR_REGISTRATION_TOKEN',
    '${RUNNER_TOKEN}',
    'token = "decoy"',
    '[[runners]]',
  ),
);
const plainValue = fc.constantFrom(
  'r1',
  'Runner Two',
  'https://gitlab.example.com',
  'kubernetes',
  'docker',
  '',
  'a#b',
  "it's",
);

/** TOML spellings of one string value: basic, literal, multi-line, with escapes. */
function quote(v: string, style: number): string {
  const basic = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  switch (style) {
    case 0:
      return `"${basic(v)}"`;
    case 1:
      return v.includes("'") ? `"${basic(v)}"` : `'${v}'`;
    case 2:
      return `"""${basic(v)}"""`;
    case 3:
      // a newline right after the opening delimiter is trimmed
      return `"""\n${basic(v)}"""`;
    case 4:
      return v.includes("'") ? `"${basic(v)}"` : `'''${v}'''`;
    default:
      // first character as a \u escape
      return v === ''
        ? '""'
        : `"\\u${v.charCodeAt(0).toString(16).padStart(4, '0')}${basic(v.slice(1))}"`;
  }
}

const KEY_SPELLINGS: Record<string, string[]> = {
  token: [
    'token',
    'token',
    'token',
    'Token',
    'TOKEN',
    '"token"',
    "'token'",
    '"\\u0074oken"',
    '"to\u212Aen"',
    '"to\\u212Aen"',
  ],
  name: ['name', 'name', 'NAME', '"Name"'],
  url: ['url', 'url', 'URL', "'Url'"],
  executor: ['executor', 'Executor'],
};
const RUNNERS_SPELLINGS = [
  'runners',
  'runners',
  'runners',
  'RUNNERS',
  'Runners',
  '"runners"',
  "'runners'",
  '"\\u0072unners"',
  '"runner\u017f"',
  "'RUNNER\u017f'",
  ' runners ',
];

const field = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ f: fc.constant('token'), k: fc.nat(9), v: tokenValue, q: fc.nat(5) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      f: fc.constantFrom('name', 'url', 'executor'),
      k: fc.nat(3),
      v: plainValue,
      q: fc.nat(5),
    }),
  },
  // not a string: gitlab-runner stops with "incompatible types"
  {
    weight: 1,
    arbitrary: fc.record({
      f: fc.constantFrom('token', 'name'),
      k: fc.constant(0),
      v: fc.constantFrom('1', 'true', '1979-05-27T07:32:00Z'),
      q: fc.constant(-1),
    }),
  },
);
const decoy = fc.constantFrom(
  '# [[runners]]',
  '# token = "GR1348941decoydecoydecoy12"',
  'pre_build_script = """\n[[runners]]\ntoken = "GR1348941AAbbCCddEEffGGhh12"\n"""',
  "post_build_script = '''\n[[runners]]\n  token = 'x'\n'''",
  'environment = ["token = x", "[[runners]]"]',
  'limit = 2 # token = "y"',
);
const runner = fc.record({
  fields: fc.array(field, { maxLength: 5 }),
  decoys: fc.uniqueArray(decoy, { maxLength: 2 }),
});

interface Group {
  form: 'aot' | 'inline-one-line' | 'inline-lines' | 'table' | 'dotted';
  key: number;
  runners: { fields: { f: string; k: number; v: string; q: number }[]; decoys: string[] }[];
}
const group: fc.Arbitrary<Group> = fc.record({
  form: fc.constantFrom('aot', 'aot', 'aot', 'inline-one-line', 'inline-lines', 'table', 'dotted'),
  key: fc.nat(RUNNERS_SPELLINGS.length - 1),
  runners: fc.array(runner, { minLength: 1, maxLength: 3 }),
});

function keyOf(f: string, k: number): string {
  const s = KEY_SPELLINGS[f]!;
  return s[k % s.length]!;
}
const valueOf = (x: { v: string; q: number }): string => (x.q < 0 ? x.v : quote(x.v, x.q));

function render(groups: Group[], globals: string[], crlf: boolean, headerComment: boolean): string {
  const top: string[] = [...globals];
  const tables: string[] = [];
  for (const g of groups) {
    const rk = RUNNERS_SPELLINGS[g.key]!;
    if (g.form === 'aot' || g.form === 'table') {
      for (const r of g.runners) {
        tables.push(
          g.form === 'aot' ? `[[${rk}]]${headerComment ? ' # [[runners]]' : ''}` : `[${rk}]`,
        );
        for (const d of r.decoys) tables.push(`  ${d}`);
        for (const x of r.fields) tables.push(`  ${keyOf(x.f, x.k)} = ${valueOf(x)}`);
        if (g.form === 'table') break;
      }
    } else if (g.form === 'dotted') {
      const x = g.runners[0]!.fields[0] ?? { f: 'token', k: 0, v: 'x', q: 0 };
      top.push(`${rk.trim()}.${keyOf(x.f, x.k)} = ${valueOf(x)}`);
    } else {
      const sep = g.form === 'inline-lines' ? ',\n  ' : ', ';
      const items = g.runners.map(
        (r) => `{ ${r.fields.map((x) => `${keyOf(x.f, x.k)} = ${valueOf(x)}`).join(', ')} }`,
      );
      top.push(
        `${rk.trim()} = [${g.form === 'inline-lines' ? '\n  ' : ''}${items.join(sep)}${g.form === 'inline-lines' ? ',\n]' : ']'}`,
      );
    }
  }
  const text = [...top, ...tables].join('\n') + '\n';
  return crlf ? text.replace(/\n/g, '\r\n') : text;
}

const config = fc
  .record({
    groups: fc.array(group, { minLength: 1, maxLength: 3 }),
    globals: fc.subarray([
      'concurrent = 4',
      'CONCURRENT = 2',
      'check_interval = 3',
      'log_level = "info"',
      '# global comment',
    ]),
    crlf: fc.boolean(),
    bom: fc.boolean(),
    headerComment: fc.boolean(),
  })
  .map((c) => ({ ...c, text: render(c.groups, c.globals, c.crlf, c.headerComment) }));

type Pair = string;
const pairOf = (r: { name?: string; url?: string; token?: string; executor?: string }): Pair =>
  JSON.stringify([r.name ?? '', r.url ?? '', r.token ?? '', r.executor ?? '']);

/** What the rules see: refusal (GRA004/GRA010), ambiguity (GRA011), the runner tuples they evaluate. */
function ours(text: string): {
  refuses: boolean;
  ambiguous: boolean;
  pairs: Pair[];
  tokens: string[];
} {
  const parsed = parseRunnerConfig(text);
  const findings = checkRunnerConfig(
    text,
    { object: { kind: 'ConfigMap', name: 'x' }, storage: 'secret', dataKey: 'config.toml' },
    parsed,
  );
  const ids = new Set(findings.map((f) => f.ruleId));
  return {
    refuses: ids.has('GRA004') || ids.has('GRA010'),
    ambiguous: ids.has('GRA011'),
    pairs: parsed.ok ? parsed.runners.map(pairOf) : [],
    tokens: parsed.ok ? parsed.runners.map((r) => r.token ?? '') : [],
  };
}

export function disagreement(text: string, theirs: OracleResult): string | undefined {
  const o = ours(text);
  if (!theirs.ok) {
    // with two keys folding to one field Go's map order decides whether a wrong-typed one is used
    if (o.refuses || o.ambiguous) return undefined;
    return `gitlab-runner refuses (${theirs.error}) but the rules do not deny it as unloadable`;
  }
  if (o.refuses) return 'gitlab-runner loads it but the rules deny it as unloadable';
  if (o.ambiguous) {
    // gitlab-runner read one of the candidates this time (for every ambiguous field): the rules
    // must have evaluated its token
    const missing = (theirs.runners ?? []).find((r) => !o.tokens.includes(r.token));
    return missing === undefined
      ? undefined
      : `gitlab-runner read token ${missing.token}, which the rules did not evaluate`;
  }
  const go = (theirs.runners ?? []).map(pairOf);
  if (JSON.stringify(go) !== JSON.stringify(o.pairs))
    return `gitlab-runner read ${JSON.stringify(go)}, the rules evaluated ${JSON.stringify(o.pairs)}`;
  return undefined;
}

t.test(
  'differential: the rules read config.toml as BurntSushi/toml and gitlab-runner do',
  { skip: ORACLE_SKIP },
  async (t) => {
    const oracle: Oracle = await startOracle();
    t.teardown(() => oracle.close());

    // the variants issue 12 lists, by hand, before the generator
    const fixed: [string, string][] = [
      ['[[RUNNERS]]', '[[RUNNERS]]\n  token = "GR1348941AbCdEfGhJkMnPqRsTuVw"\n'],
      ['[[Runners]]', '[[Runners]]\n  token = "GR1348941AbCdEfGhJkMnPqRsTuVw"\n'],
      ['escaped header', '[["\\u0072unners"]]\n  token = "GR1348941AbCdEfGhJkMnPqRsTuVw"\n'],
      ['long s', '[["runner\u017f"]]\n  token = "GR1348941AbCdEfGhJkMnPqRsTuVw"\n'],
      [
        'inline one line',
        'runners = [{ name = "r", url = "https://g.example", token = "GR1348941AbCdEfGhJkMnPqRsTuVw" }]\n',
      ],
      [
        'inline lines',
        'runners = [\n  { name = "r", token = "GR1348941AbCdEfGhJkMnPqRsTuVw" },\n]\n',
      ],
      [
        'clean then RUNNERS',
        '[[runners]]\n  token = "glrt-AbCdEfGhJkMnPqRsTuVw"\n[[RUNNERS]]\n  token = "GR1348941AbCdEfGhJkMnPqRsTuVw"\n',
      ],
      [
        'token and Token',
        '[[runners]]\n  token = "glrt-AbCdEfGhJkMnPqRsTuVw"\n  Token = "GR1348941AbCdEfGhJkMnPqRsTuVw"\n',
      ],
      ['[runners] table', '[runners]\n  token = "GR1348941AbCdEfGhJkMnPqRsTuVw"\n'],
      ['runners.token', 'runners.token = "GR1348941AbCdEfGhJkMnPqRsTuVw"\n'],
      [
        'mixed-type array',
        '[[runners]]\n  token = "glrt-AbCdEfGhJkMnPqRsTuVw"\n  [runners.docker]\n    volumes = ["/cache", 1]\n',
      ],
    ];
    const answers = await oracle.decode(fixed.map(([, text]) => text));
    fixed.forEach(([label, text], i) => t.equal(disagreement(text, answers[i]!), undefined, label));

    let cases = 0;
    await fc.assert(
      fc.asyncProperty(config, async (c) => {
        cases++;
        // BurntSushi/toml 1.2 (Debian's) refuses a UTF-8 BOM; the runner's newer 1.x skips it, as the rules do
        const [theirs] = await oracle.decode([c.text]);
        const text = c.bom ? `\uFEFF${c.text}` : c.text;
        const d = disagreement(text, theirs!);
        if (d !== undefined) throw new Error(`${d}\n--- config.toml ---\n${c.text}`);
      }),
      { ...runs(5000), endOnFailure: false },
    );
    t.pass(`0 disagreements in ${cases} generated configs`);
  },
);
