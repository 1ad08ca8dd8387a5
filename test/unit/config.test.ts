import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import {
  editDistance,
  isTemplateSource,
  isRunnerConfig,
  parseRunnerConfig,
  type ParsedRunnerConfig,
} from '../../src/config/index.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const sharedDir = path.resolve(repoRoot, '../shared');
const corpusDir = path.join(sharedDir, 'corpus/toml');

function ok(r: ParsedRunnerConfig): Extract<ParsedRunnerConfig, { ok: true }> {
  if (!r.ok)
    throw new Error(`expected ok, got ${r.error.message} at ${r.error.line}:${r.error.column}`);
  return r;
}
function err(r: ParsedRunnerConfig): Extract<ParsedRunnerConfig, { ok: false }> {
  if (r.ok) throw new Error('expected a TOML error');
  return r;
}

const SEED_TOKEN = 'GR1348941Xq7_pLm2VbN9cRt4wZsK';

t.test('seed ConfigMap: runner 0, token on line 8 of config.toml', async (t) => {
  const cm = parseYaml(
    readFileSync(
      path.join(repoRoot, 'test/fixtures/seed/configmap-registration-token.yaml'),
      'utf8',
    ),
  );
  const text: string = cm.data['config.toml'];
  t.ok(isRunnerConfig(text));
  t.notOk(isTemplateSource(text));
  const r = ok(parseRunnerConfig(text));
  t.equal(r.runners.length, 1);
  const r0 = r.runners[0]!;
  t.equal(r0.index, 0);
  t.equal(r0.line, 5);
  t.equal(r0.name, 'ois-cfa-runner');
  t.equal(r0.url, 'https://gitlab.example.com');
  t.equal(r0.executor, 'kubernetes');
  t.equal(r0.token, SEED_TOKEN);
  t.equal(r0.tokenLine, 8);
  t.equal(r0.tokenExpiresAt, undefined);
  t.same(r.globals, { concurrent: 10, check_interval: 3, log_level: 'info' });
  t.same(r.unknownKeys, []);
});

t.test('syntax error: 1-based line and column, one-line message', async (t) => {
  const text =
    'concurrent = 4\ncheck_interval = 0\n\n[[runners\n  name = "missing closing bracket"\n';
  const e = err(parseRunnerConfig(text)).error;
  t.equal(e.line, 4);
  t.equal(e.column, 10, 'just after `[[runners`');
  t.notMatch(e.message, /\n/);
  t.notMatch(e.message, /row \d+|col \d+|pos \d+/, 'position is in line/column, not the message');
  t.notMatch(e.message, /missing closing bracket/, 'no code frame');

  const e2 = err(parseRunnerConfig('a = 1\nb = \n')).error;
  t.same([e2.line, e2.column], [2, 5]);
});

t.test('error messages never echo a token from the input', async (t) => {
  const cases = [
    `[[runners]]\n  token = "${SEED_TOKEN}" trailing\n`,
    `[[runners]]\n  token = "${SEED_TOKEN}\n`,
    `[[runners]]\ntoken = "${SEED_TOKEN}"\n\n[[runners\n`,
    `x = 1\n[[runners]]\n  token = """${SEED_TOKEN}\n`,
    `[[runners]]\n  token = "${SEED_TOKEN}\\q"\n`,
    `${SEED_TOKEN} = \n`,
    `[[runners]]\n  token = "${SEED_TOKEN}"\n  token = "${SEED_TOKEN}"\n`,
  ];
  for (const text of cases) {
    const e = err(parseRunnerConfig(text)).error;
    for (let k = 0; k + 6 <= SEED_TOKEN.length; k++) {
      t.notOk(
        e.message.includes(SEED_TOKEN.slice(k, k + 6)),
        `no 6-char piece of the token in "${e.message}"`,
      );
    }
    t.ok(e.line >= 1 && e.column >= 1);
  }
  const bom = err(parseRunnerConfig('a = 1\n\uFEFFb = 2\n')).error;
  t.match(bom.message, /U\+FEFF/, 'code points are named, not quoted');
});

t.test('several runners: order, header lines, token lines, token_expires_at', async (t) => {
  const text = [
    'concurrent = 2', //                                  1
    '[[runners]]', //                                     2
    '  name = "a"', //                                    3
    '  token = "glrt-aaaaaaaaaaaaaaaaaaaa"', //           4
    '  token_expires_at = 2026-09-01T10:00:00Z', //        5
    '  [runners.docker]', //                              6
    '    image = "alpine"', //                            7
    '    token = "not-the-runner-token"', //              8  (unknown key in docker)
    '[[runners]]', //                                     9
    '  name = "b"', //                                    10
    '  [runners.kubernetes]', //                          11
    '    namespcae = "x"', //                             12 (typo, in runner 1's sub-table)
    '[[runners]] # third', //                             13
    "  token = 't2_literal'", //                        14
    '  token_expires_at = "2026-01-01"', //               15
  ].join('\n');
  const r = ok(parseRunnerConfig(text));
  t.same(
    r.runners.map((x) => [x.index, x.line, x.name, x.token, x.tokenLine, x.tokenExpiresAt]),
    [
      [0, 2, 'a', 'glrt-aaaaaaaaaaaaaaaaaaaa', 4, '2026-09-01T10:00:00Z'],
      [1, 9, 'b', undefined, undefined, undefined],
      [2, 13, undefined, 't2_literal', 14, '2026-01-01'],
    ],
  );
  t.same(r.unknownKeys, [
    { path: 'runners.docker.token', line: 8, suggestion: 'runners.token', runnerIndex: 0 },
    { path: 'runners.kubernetes.namespcae', line: 12, suggestion: 'namespace', runnerIndex: 1 },
  ]);
});

t.test('multi-line strings holding `token = "x"` are not keys', async (t) => {
  const text = [
    '[[runners]]', //                                     1
    '  name = "ml"', //                                   2
    '  pre_build_script = """', //                        3
    'token = "fake-basic"', //                            4
    '[[runners]]', //                                     5
    '  \\"""', //                                         6  escaped quote run inside
    '"""', //                                             7
    "  post_build_script = '''", //                       8
    'token = "fake-literal"', //                          9
    "[[runners]]'''", //                                  10
    '  environment = [ # comment with token = "c"', //    11
    '    "token = \\"x\\"",', //                          12
    "    '[[runners]]',", //                            13
    '  ]', //                                             14
    '  token = "real"', //                                15
    '  [runners.kubernetes.pod_labels]', //               16
    '    "token" = "label"', //                           17
  ].join('\n');
  const r = ok(parseRunnerConfig(text));
  t.equal(r.runners.length, 1);
  t.equal(r.runners[0]!.token, 'real');
  t.equal(r.runners[0]!.tokenLine, 15);
  t.same(r.unknownKeys, [], 'pod_labels is a free-form map');
});

t.test('inline tables, dotted keys, quoted keys, inline runners array', async (t) => {
  const text = [
    'runners = [', //                                      1
    '  { name = "inline", token = "tok-a" },', //          2
    '  { name = "second", "token" = "tok-b", docker = { image = "x", imgae = "y" } },', // 3
    ']', //                                                4
  ].join('\n');
  const r = ok(parseRunnerConfig(text));
  t.same(
    r.runners.map((x) => [x.index, x.line, x.name, x.token, x.tokenLine]),
    [
      [0, 2, 'inline', 'tok-a', 2],
      [1, 3, 'second', 'tok-b', 3],
    ],
  );
  t.same(r.unknownKeys, [
    { path: 'runners.docker.imgae', line: 3, suggestion: 'image', runnerIndex: 1 },
  ]);

  const dotted = ok(
    parseRunnerConfig(
      '[[runners]]\nname = "d"\ndocker.image = "x"\ncache.s3.BucketNmae = "b"\ntoken = "z"\n',
    ),
  );
  t.equal(dotted.runners[0]!.tokenLine, 5);
  t.same(dotted.unknownKeys, [
    { path: 'runners.cache.s3.BucketNmae', line: 4, suggestion: 'BucketName', runnerIndex: 0 },
  ]);
});

t.test('CRLF, BOM, no trailing newline', async (t) => {
  const lf = 'concurrent = 1\n\n[[runners]]\n  name = "x"\n  token = "glrt-crlf"';
  const crlf = lf.replace(/\n/g, '\r\n');
  for (const [label, text] of [
    ['LF', lf],
    ['CRLF', crlf],
    ['BOM+CRLF', '\uFEFF' + crlf],
    ['BOM+LF', '\uFEFF' + lf],
  ] as const) {
    t.ok(isRunnerConfig(text), `${label}: looks like a runner config`);
    const r = ok(parseRunnerConfig(text));
    t.equal(r.runners[0]!.token, 'glrt-crlf', label);
    t.equal(r.runners[0]!.tokenLine, 5, label);
    t.equal(r.runners[0]!.line, 3, label);
  }
  const plain = err(parseRunnerConfig('a = \r\n')).error;
  const withBom = err(parseRunnerConfig('\uFEFFa = \r\n')).error;
  t.same(
    [withBom.line, withBom.column],
    [plain.line, plain.column],
    'a BOM does not shift columns',
  );
  t.equal(plain.line, 1);
});

t.test('a token keeps the whitespace inside its quotes', async (t) => {
  const r = ok(
    parseRunnerConfig(
      '[[runners]]\ntoken = "glrt-abc\\n"\n[[runners]]\ntoken = """\n glrt-def \n"""\n',
    ),
  );
  t.equal(r.runners[0]!.token, 'glrt-abc\n');
  t.equal(
    r.runners[1]!.token,
    ' glrt-def \n',
    'first newline after """ is trimmed by TOML, the rest kept',
  );
  t.equal(r.runners[1]!.tokenLine, 4);
});

t.test('unknown keys: typos, state_file, stray tables, free-form maps', async (t) => {
  const text = [
    'concurent = 4', //                                    1
    'state_file = "/data/.runner_system_id"', //           2
    '[[runners]]', //                                      3
    '  name = "r"', //                                     4
    '  buids_dir = "/b"', //                               5
    '  state_file = "/x"', //                              6
    '  tls-ca-file = "/ca"', //                            7
    '  tls-cert-file = "/c"', //                           8
    '  tls-key-file = "/k"', //                            9
    '  pre_clone_script = "echo"', //                      10 (deprecated, still known)
    '  [runners.cache]', //                                11
    '    type = "s3"', //                                  12 (case-insensitive, like BurntSushi)
    '    Shared = true', //                                13
    '  [runners.kubernetes]', //                           14
    '    executor = "kubernetes"', //                      15 (belongs to [[runners]])
    '  [runners.kubernetes.node_selector]', //             16
    '    "kubernetes.io/arch" = "arm64"', //               17
    '  [runners.kubernetes.pod_annotations]', //           18
    '    "a/b" = "c"', //                                  19
    '  [runners.docker.tmpfs]', //                         20
    '    "/var/lib/mysql" = "rw"', //                      21
    '  [runners.docker.sysctls]', //                       22
    '    "net.ipv4.ip_forward" = "1"', //                  23
    '  [runners.autoscaler.plugin_config]', //             24
    '    anything_goes = 1', //                            25
    '  [runners.feature_flags]', //                        26
    '    FF_ANY = true', //                                27
    '[[runner.kubernetes.volumes.pvc]]', //                28
    '  name = "p"', //                                     29
  ].join('\n');
  const r = ok(parseRunnerConfig(text));
  t.same(r.unknownKeys, [
    { path: 'concurent', line: 1, suggestion: 'concurrent' },
    { path: 'state_file', line: 2 },
    { path: 'runners.buids_dir', line: 5, suggestion: 'builds_dir', runnerIndex: 0 },
    { path: 'runners.state_file', line: 6, runnerIndex: 0 },
    {
      path: 'runners.kubernetes.executor',
      line: 15,
      suggestion: 'runners.executor',
      runnerIndex: 0,
    },
    { path: 'runner', line: 28, suggestion: 'runners' },
  ]);
});

t.test(
  'a [runners.docker] fragment (no [[runners]]) is zero runners, still schema-checked; a [runners] table with keys cannot load',
  async (t) => {
    const text =
      '[runners.docker]\n  image = "ruby"\n  log_options = { env = "A", labels = "b" }\n  imagee = "x"\n';
    t.ok(isRunnerConfig(text));
    const r = ok(parseRunnerConfig(text));
    t.same(r.runners, []);
    t.same(r.problems, [], 'a docs fragment, not denied');
    t.match(ok(parseRunnerConfig('[runners]\n  token = "x"\n  [runners.docker]\n')).problems, [
      { kind: 'unloadable', line: 1, reason: /`runners` is a table/ },
    ]);
    t.same(r.unknownKeys, [{ path: 'runners.docker.imagee', line: 4, suggestion: 'image' }]);
    t.same(ok(parseRunnerConfig('runners = 5\n')).runners, []);
    t.match(ok(parseRunnerConfig('runners = 5\n')).problems, [
      { kind: 'unloadable', reason: /is a number/ },
    ]);
    t.same(ok(parseRunnerConfig('')).runners, []);
  },
);

t.test('editDistance is Damerau (transpositions cost 1) and bounded', async (t) => {
  t.equal(editDistance('buids_dir', 'builds_dir'), 1);
  t.equal(editDistance('exectuor', 'executor'), 1);
  t.equal(editDistance('imgae', 'image'), 1);
  t.equal(editDistance('abc', 'xyzuvw'), 3, 'gives up above the bound');
  t.equal(editDistance('x'.repeat(1_000_000), 'image'), 3);
});

t.test('isRunnerConfig', async (t) => {
  t.ok(isRunnerConfig('[[runners]]'));
  t.ok(isRunnerConfig('a = 1\n  [[ runners ]]   # comment\n'));
  t.ok(isRunnerConfig('x=1\r\n[["runners"]]\r\n'));
  // gitlab-runner's config, which it refuses to load (GRA010)
  t.ok(isRunnerConfig('[runners]\n'));
  t.ok(isRunnerConfig('[[runners.docker.services]]\n'));
  t.notOk(isRunnerConfig('# [[runners]]\n'));
  t.notOk(isRunnerConfig('[[inputs.cpu]]\npercpu = true\n'));
  t.notOk(isRunnerConfig('[tool.poetry]\nname = "runners"\n'));
  // does not parse; a broken runner config (GRA004)
  t.ok(isRunnerConfig('[[runners]] x\n'));
  t.ok(isRunnerConfig('[[runners\n  token = "x"\n'));
  t.ok(isRunnerConfig('concurrent = 4\n'));
  t.notOk(isRunnerConfig(undefined as unknown as string));
});

t.test('isTemplateSource', async (t) => {
  t.ok(
    isTemplateSource('concurrent = ${runners_concurrent}\n'),
    'Terraform interpolation as a value',
  );
  t.ok(isTemplateSource('[[runners]]\n  ${tls_ca_file}\n'), 'Terraform interpolation as a line');
  t.ok(isTemplateSource('%{ if x ~}\nk = 1\n%{ endif ~}\n'), 'Terraform directive');
  t.ok(
    isTemplateSource('[[runners]]\n  namespace = "{{ .Release.Namespace }}"\n'),
    'Helm value inside a string',
  );
  t.ok(isTemplateSource('{{- if .Values.x }}\n[[runners]]\n{{- end }}\n'), 'Helm control');
  t.ok(isTemplateSource('[[runners]]\n{{ include "runner.config" . }}\n'), 'Helm include');
  t.ok(isTemplateSource('{% if x %}\n[[runners]]\n{% endif %}\n'), 'Jinja statement');
  t.notOk(
    isTemplateSource('[[runners]]\n  token = "${RUNNER_TOKEN}"\n'),
    'runner env expansion inside a string',
  );
  t.notOk(
    isTemplateSource('[[runners]]\n  pre_build_script = "docker ps --format \'{{.Names}}\'"\n'),
    'docker format in a script',
  );
  t.notOk(
    isTemplateSource("[[runners]]\n  x = '''\n${A}\n{{.B}}\n'''\n"),
    'inside a multi-line literal',
  );
  t.notOk(isTemplateSource('[[runners]]\n# ${commented_out}\n'), 'inside a comment');
  t.notOk(isTemplateSource('a = "\\"${X}\\""\n'), 'escaped quotes do not end the string');
});

t.test('hostile inputs: never throws, never hangs', async (t) => {
  const deep = 100_000;
  const cases: [string, string][] = [
    ['deep arrays', 'a = ' + '['.repeat(deep) + ']'.repeat(deep)],
    ['deep inline tables', 'a = ' + '{b = '.repeat(deep) + '1' + '}'.repeat(deep)],
    ['unclosed deep arrays', 'a = ' + '['.repeat(deep)],
    ['long dotted key', 'a' + '.a'.repeat(deep) + ' = 1'],
    ['long header', '[' + 'a.'.repeat(deep) + 'a]\nx = 1'],
    [
      'deep array of tables',
      '[[runners]]\n' + 'k = ' + '[{a = '.repeat(2000) + '1' + '}]'.repeat(2000),
    ],
    ['NUL bytes', '[[runners]]\n\u0000token = "x\u0000"'],
    ['lone surrogates', '[[runners]]\ntoken = "\uD800glrt-\uDFFF"\nname = "\uDC00"'],
    ['UTF-16LE decoded as latin1', '\u00FF\u00FE[\u0000[\u0000r\u0000u\u0000n\u0000'],
    ['UTF-16 BOM as a JS string', '\uFFFE[[runners]]'],
    ['lone CR', 'a = 1\rb = 2'],
    ['only quotes', '"""'.repeat(1000)],
    [
      '__proto__ keys',
      '__proto__ = 1\n[[runners]]\n__proto__ = 2\ntoken = "t"\n[constructor]\nx = 1',
    ],
  ];
  for (const [label, text] of cases) {
    const r = parseRunnerConfig(text);
    t.type(r.ok, 'boolean', label);
    if (r.ok) {
      t.ok(Array.isArray(r.runners) && Array.isArray(r.unknownKeys), label);
    } else {
      t.ok(r.error.line >= 1 && r.error.column >= 1 && !r.error.message.includes('\n'), label);
    }
    t.type(isTemplateSource(text), 'boolean', label);
    t.type(isRunnerConfig(text), 'boolean', label);
  }
  const proto = ok(parseRunnerConfig('__proto__ = 1\n[[runners]]\n__proto__ = 2\ntoken = "t"\n'));
  t.equal(proto.runners[0]!.token, 't');
  t.equal(({} as Record<string, unknown>)['x'], undefined, 'no prototype pollution');
  t.equal(parseRunnerConfig(undefined as unknown as string).ok, false);
});

t.test('5 MB config: every runner and token line found', async (t) => {
  const parts = ['concurrent = 100\n'];
  let lineNo = 2;
  const expected: number[] = [];
  let size = parts[0]!.length;
  for (let i = 0; size < 5_000_000; i++) {
    const block =
      `[[runners]]\n  name = "r${i}"\n  url = "https://gitlab.example.com"\n` +
      `  token = "glrt-${String(i).padStart(20, '0')}"\n  [runners.docker]\n    image = "alpine"\n` +
      `    volumes = ["/cache",\n      "/var/run/docker.sock:/var/run/docker.sock"]\n`;
    parts.push(block);
    expected.push(lineNo + 3);
    lineNo += 8;
    size += block.length;
  }
  const r = ok(parseRunnerConfig(parts.join('')));
  t.equal(r.runners.length, expected.length);
  t.same(
    r.runners.map((x) => x.tokenLine),
    expected,
  );
  const last = r.runners[r.runners.length - 1]!;
  t.equal(last.token, `glrt-${String(expected.length - 1).padStart(20, '0')}`);
  t.same(r.unknownKeys, []);

  const manyUnknown = ok(
    parseRunnerConfig(Array.from({ length: 5000 }, (_, i) => `zz${i} = 1`).join('\n')),
  );
  t.equal(manyUnknown.unknownKeys.length, 200, 'unknown keys are capped');
  t.equal(manyUnknown.unknownKeysTruncated, true);
});

// Generated configs: the scanner's token lines must agree with the parser for any layout.
t.test(
  'property: token lines follow the parser through comments, blank lines and multi-line strings',
  async (t) => {
    const filler = fc.constantFrom(
      '',
      '   ',
      '# token = "comment"',
      '  [runners.cache]',
      '  environment = [\n    "token = x",\n  ]',
      '  pre_build_script = """\ntoken = "no"\n[[runners]]\n"""',
      "  post_build_script = '''\n[[runners]]\ntoken = 'no'\n'''",
      '  [runners.docker]\n    image = "alpine" # token = "no"',
      '  [runners.kubernetes.pod_labels]\n    "token" = "label"',
    );
    const runner = fc.record({
      fillers: fc.uniqueArray(filler, { maxLength: 5 }),
      token: fc.option(fc.stringMatching(/^[A-Za-z0-9_.-]{0,30}$/), { nil: undefined }),
    });
    await fc.assert(
      fc.property(
        fc.array(runner, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (runners, crlf) => {
          const lines: string[] = ['concurrent = 1'];
          const want: { header: number; tokenLine?: number; token?: string }[] = [];
          const push = (chunk: string): void => {
            lines.push(...chunk.split('\n'));
          };
          for (const r of runners) {
            push('[[runners]]');
            const w: { header: number; tokenLine?: number; token?: string } = {
              header: lines.length,
            };
            // keys of the runner itself come before its sub-table headers (TOML scoping)
            for (const f of r.fillers.filter((x) => !x.includes('[runners.'))) push(f);
            if (r.token !== undefined) {
              push(`  token = "${r.token}"`);
              w.tokenLine = lines.length;
              w.token = r.token;
            }
            for (const f of r.fillers.filter((x) => x.includes('[runners.'))) push(f);
            want.push(w);
          }
          const text = lines.join(crlf ? '\r\n' : '\n');
          const parsed = parseRunnerConfig(text);
          if (!parsed.ok || parsed.runners.length !== want.length) return false;
          return parsed.runners.every(
            (got, i) =>
              got.line === want[i]!.header &&
              got.tokenLine === want[i]!.tokenLine &&
              got.token === want[i]!.token,
          );
        },
      ),
      { numRuns: 300 },
    );
    t.pass('token lines agree');
  },
);

t.test('property: parseRunnerConfig never throws on arbitrary text', async (t) => {
  const tomlish = fc.constantFrom(
    '[',
    ']',
    '[[',
    ']]',
    '{',
    '}',
    '"',
    "'",
    '"""',
    "'''",
    '=',
    '.',
    ',',
    '#',
    '\n',
    '\r\n',
    ' ',
    'runners',
    'token',
    'a',
    '1',
    '\\',
    '\u0000',
    '\uD800',
    '${',
    '{{',
  );
  await fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.array(tomlish, { maxLength: 120 }).map((a) => a.join('')),
      ),
      (s) => {
        const r = parseRunnerConfig(s);
        isTemplateSource(s);
        isRunnerConfig(s);
        return r.ok
          ? Array.isArray(r.runners)
          : r.error.line >= 1 && r.error.column >= 1 && !r.error.message.includes('\n');
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('no throw');
});

t.test(
  'corpus: every toml/ file',
  {
    skip: existsSync(corpusDir)
      ? false
      : '../shared is absent (a plain clone): corpus checks need the shared/ folder beside the repo',
  },
  async (t) => {
    const files = readdirSync(corpusDir).sort();
    t.ok(files.length > 0);
    // unknown keys the corpus really contains; everything else must report none
    const expectedUnknown: Record<string, { path: string; line: number; suggestion?: string }[]> = {
      'official-testdata-lint-misspelled_key.toml': [
        { path: 'runners.buids_dir', line: 9, suggestion: 'builds_dir' },
      ],
      'official-testdata-lint-wrong_section.toml': [
        { path: 'runner', line: 11, suggestion: 'runners' },
      ],
      // CustomConfig has no run_exec_timeout in gitlab-runner common/config.go (run_exec is bounded by
      // the job timeout), so the runner ignores this key: a true finding, not a false positive
      'metzenseifner-custom-nspawn.toml': [{ path: 'runners.custom.run_exec_timeout', line: 36 }],
    };
    for (const f of files) {
      const text = readFileSync(path.join(corpusDir, f), 'utf8');
      if (f.endsWith('.tftpl') || f.endsWith('.tpl')) {
        t.ok(isTemplateSource(text), `${f} is a template source`);
        continue;
      }
      t.notOk(isTemplateSource(text), `${f} is plain TOML`);
      const r = parseRunnerConfig(text);
      if (f === 'official-testdata-lint-invalid_syntax.toml') {
        const e = err(r).error;
        t.same([e.line, e.column], [4, 10], `${f}: error at the unclosed header`);
        continue;
      }
      const parsed = ok(r);
      t.same(
        parsed.unknownKeys.map(({ path: p, line, suggestion }) => ({
          path: p,
          line,
          ...(suggestion !== undefined ? { suggestion } : {}),
        })),
        expectedUnknown[f] ?? [],
        `${f}: unknown keys`,
      );
      // each runner's token line really is a token line
      const srcLines = text.split(/\r?\n/);
      for (const run of parsed.runners) {
        t.match(
          srcLines[run.line - 1] ?? '',
          /^\s*\[\[\s*runners\s*\]\]/,
          `${f}: runner ${run.index} header line`,
        );
        if (run.tokenLine !== undefined)
          t.match(
            srcLines[run.tokenLine - 1] ?? '',
            /^\s*token\s*=/,
            `${f}: runner ${run.index} token line`,
          );
      }
    }
    const multi = ok(
      parseRunnerConfig(readFileSync(path.join(corpusDir, 'webees-three-docker.toml'), 'utf8')),
    );
    t.same(
      multi.runners.map((x) => [x.index, x.line, x.tokenLine]),
      [
        [0, 7, 10],
        [1, 30, 33],
        [2, 53, 56],
      ],
    );
    const dt = ok(
      parseRunnerConfig(
        readFileSync(path.join(corpusDir, 'hamidrgholipour-legacy20-underscore.toml'), 'utf8'),
      ),
    );
    t.equal(dt.runners[0]!.tokenExpiresAt, '0001-01-01T00:00:00Z', 'datetime as written');
    const frag = ok(
      parseRunnerConfig(
        readFileSync(
          path.join(corpusDir, 'official-docs-docker-section-inline-table-services.toml'),
          'utf8',
        ),
      ),
    );
    t.same(frag.runners, [], 'fragment without [[runners]] has no runners');
  },
);

t.test('a quoted key holding U+0000 and a dot is one key, not a path: its own line', async (t) => {
  // `"x\u0000.b"` once had the same internal path as `x.b` in the line scanner
  const r = ok(parseRunnerConfig('concurrent = 1\nx.b = 1\n"x\\u0000.b" = 2\n'));
  t.same(r.unknownKeys, [
    { path: 'x', line: 2 },
    { path: '"x\\u0000.b"', line: 3 },
  ]);
});
