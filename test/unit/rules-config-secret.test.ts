import t from 'tap';
import { checkRunnerConfig } from '../../src/rules/config/check.js';
import { evaluateObject } from '../../src/rules/evaluate.js';
import { SEED_AUTH_TOKEN, SEED_REG_TOKEN } from '../helpers/fixtures.js';

const FILE = { object: { kind: 'File', name: 'config.toml' }, storage: 'file' as const };
const CM = {
  object: { kind: 'ConfigMap', namespace: 'n', name: 'c' },
  storage: 'configmap' as const,
  dataKey: 'config.toml',
};

const cfg = (token: string, extra = '') =>
  `concurrent = 2\n[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  token = ${JSON.stringify(token)}\n  executor = "shell"\n${extra}`;
const ids = (fs: { ruleId: string }[]) => fs.map((f) => f.ruleId).sort();

t.test('config token kinds', async (t) => {
  const reg = checkRunnerConfig(cfg(SEED_REG_TOKEN), FILE);
  t.same(ids(reg), ['GRA001']);
  t.equal(reg[0]!.line, 5, 'line of the token key');
  t.same(reg[0]!.runner, { index: 0, name: 'r' });
  t.equal(reg[0]!.severity, 'deny');
  t.notOk(JSON.stringify(reg).includes(SEED_REG_TOKEN), 'redacted');

  t.same(ids(checkRunnerConfig(cfg(SEED_AUTH_TOKEN), FILE)), [], 'auth token in a file: nothing');
  t.same(
    ids(checkRunnerConfig(cfg(SEED_AUTH_TOKEN), CM)),
    ['GRA005'],
    'auth token in a ConfigMap: warn',
  );
  t.same(
    ids(checkRunnerConfig(cfg('glpat-Ab3dEf6hIj9kLm2nOp5q'), FILE)),
    ['GRA002'],
    'personal access token',
  );
  t.same(ids(checkRunnerConfig(cfg(SEED_AUTH_TOKEN + '\n'), FILE)), ['GRA003'], 'trailing newline');
  t.same(
    ids(checkRunnerConfig(cfg(' ' + SEED_REG_TOKEN), FILE)),
    ['GRA001', 'GRA003'],
    'both problems reported',
  );
  t.same(ids(checkRunnerConfig(cfg('YOUR_REGISTRATION_TOKEN'), FILE)), ['GRA008']);
  t.same(ids(checkRunnerConfig(cfg('TOKEN'), CM)), [], 'placeholder in a ConfigMap is fine');
  t.same(
    ids(checkRunnerConfig(cfg("<runner's token>"), FILE)),
    [],
    'spaces inside a placeholder are not a broken token',
  );
  t.same(ids(checkRunnerConfig(cfg(''), CM)), []);
  t.same(ids(checkRunnerConfig(cfg('${RUNNER_TOKEN}'), CM)), [], 'env reference (runner 18.10+)');
  t.same(
    ids(checkRunnerConfig(cfg('-sX9bT3kQ7pL2mN8vR4w'), FILE)),
    ['GRA009'],
    'legacy 20 chars: info only',
  );
  t.same(ids(checkRunnerConfig(cfg('-sX9bT3kQ7pL2mN8vR4w'), CM)), ['GRA005', 'GRA009']);
});

t.test('duplicate tokens across runners, never for placeholders', async (t) => {
  const two = (a: string, b: string) =>
    `[[runners]]\n  name = "a"\n  token = "${a}"\n[[runners]]\n  name = "b"\n  token = "${b}"\n`;
  const dup = checkRunnerConfig(two(SEED_AUTH_TOKEN, SEED_AUTH_TOKEN), FILE);
  t.same(ids(dup), ['GRA006']);
  t.equal(dup[0]!.runner?.index, 1);
  t.match(dup[0]!.message, /#0/);
  t.same(ids(checkRunnerConfig(two('TOKEN', 'TOKEN'), FILE)), []);
});

t.test('invalid TOML: line and column, no token echoed', async (t) => {
  const f = checkRunnerConfig(`[[runners]]\n  token = "${SEED_REG_TOKEN}\n  url = "x"\n`, FILE);
  t.same(ids(f), ['GRA004']);
  t.type(f[0]!.line, 'number');
  t.type(f[0]!.column, 'number');
  t.notOk(JSON.stringify(f).includes(SEED_REG_TOKEN.slice(9, 20)));
});

t.test('unknown keys: state_file and typos', async (t) => {
  const f = checkRunnerConfig(
    cfg(SEED_AUTH_TOKEN, '  state_file = "/tmp/x"\n  buids_dir = "/b"\n'),
    FILE,
  );
  t.same(ids(f), ['GRA007', 'GRA007']);
  t.match(f.map((x) => x.message).join('\n'), /runner_system_id always lives next to config\.toml/);
  t.match(f.map((x) => x.message).join('\n'), /did you mean `builds_dir`/);
});

const secret = (data: Record<string, string>, stringData?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 's', namespace: 'n' },
  data: Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  ...(stringData ? { stringData } : {}),
});

t.test('chart-style Secrets', async (t) => {
  const ev = (o: unknown) => evaluateObject(o);
  t.same(
    ids(ev(secret({ 'runner-registration-token': SEED_REG_TOKEN, 'runner-token': '' })).findings),
    [],
    'legacy flow, right slot',
  );
  t.same(
    ids(ev(secret({ 'runner-registration-token': '', 'runner-token': SEED_AUTH_TOKEN })).findings),
    [],
    'auth flow, right slot',
  );
  t.same(ids(ev(secret({ 'runner-token': SEED_REG_TOKEN })).findings), ['GRA101']);
  t.same(ids(ev(secret({ 'runner-registration-token': 'glrtr-Ab3dEf6hIj9kLm2nOp5q' })).findings), [
    'GRA102',
  ]);
  t.same(
    ids(ev(secret({ 'runner-registration-token': SEED_AUTH_TOKEN })).findings),
    ['GRA107'],
    'glrt- there works but warns',
  );
  t.same(
    ids(
      ev(secret({ 'runner-registration-token': SEED_REG_TOKEN, 'runner-token': SEED_AUTH_TOKEN }))
        .findings,
    ),
    ['GRA103'],
  );
  t.same(ids(ev(secret({ 'runner-token': 'glpat-Ab3dEf6hIj9kLm2nOp5q' })).findings), ['GRA104']);
  t.same(
    ids(ev(secret({ 'runner-token': SEED_AUTH_TOKEN + '\n' })).findings),
    ['GRA003'],
    'echo without -n',
  );
  t.same(ids(ev(secret({ 'runner-token': 'YOUR_REGISTRATION_TOKEN' })).findings), ['GRA106']);
  t.same(
    ids(ev(secret({ 'runner-token': '$token', 'runner-registration-token': '' })).findings),
    [],
  );
  const bad = { ...secret({}), data: { GITLAB_CI_TOKEN: 'xxx' } };
  t.same(ids(ev(bad).findings), ['GRA105'], 'invalid base64 in a manifest');
  const merged = secret({ 'runner-token': SEED_REG_TOKEN }, { 'runner-token': SEED_AUTH_TOKEN });
  t.same(ids(ev(merged).findings), [], 'stringData wins over data, as the apiserver merges it');
  t.equal(ev(secret({ password: 'hunter2' })).relevant, false, 'unrelated Secret passes untouched');
});

t.test('runner configs in Secrets and binaryData', async (t) => {
  const s = secret({ 'config.toml': cfg(SEED_REG_TOKEN) });
  const r = evaluateObject(s);
  t.same(ids(r.findings), ['GRA001'], 'no ConfigMap warning for a Secret');
  t.equal(r.findings[0]!.dataKey, 'config.toml');
  t.equal(r.credentials.length, 1, 'credential collected for online verification');
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: 'n' },
    binaryData: { 'config.toml': Buffer.from(cfg(SEED_REG_TOKEN)).toString('base64') },
  };
  t.same(ids(evaluateObject(cm).findings), ['GRA001', 'GRA005']);
  const notToml = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c' },
    data: { 'config.txt': cfg(SEED_REG_TOKEN) },
  };
  t.equal(
    evaluateObject(notToml).relevant,
    false,
    'only *.toml keys are runner configs (facts §5)',
  );
  t.equal(
    evaluateObject({ kind: 'ConfigMap', data: { 'a.toml': 'x = 1' } }).relevant,
    false,
    'TOML without [[runners]]',
  );
  const broken = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c' },
    data: { 'config.toml': '[[runners\n  name = "x"\n' },
  };
  t.same(
    ids(evaluateObject(broken).findings),
    ['GRA004'],
    'an unclosed [[runners header is a broken runner config',
  );
  t.equal(evaluateObject(null).relevant, false);
  t.equal(evaluateObject({ kind: 'Service' }).relevant, false);
});

t.test('isBase64 accepts exactly what the grouped StdEncoding pattern accepts', async (t) => {
  const fc = (await import('fast-check')).default;
  const { isBase64 } = await import('../../src/rules/data.js');
  // the definition: whole groups of 4, the last one padded `xx==` or `xxx=`
  const grouped = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  const chars = fc.constantFrom(...'AZaz09+/=-_ \n'.split(''));
  const text = fc.oneof(
    fc.string({ unit: chars, maxLength: 24 }),
    fc.string({ maxLength: 12 }).map((s) => Buffer.from(s).toString('base64')),
    fc.string({ maxLength: 12 }).map((s) => Buffer.from(s).toString('base64') + '='),
  );
  fc.assert(
    fc.property(text, (s) => isBase64(s) === grouped.test(s)),
    { numRuns: 5000 },
  );
  for (const [s, ok] of [
    ['', true],
    ['QUJD', true],
    ['QUI=', true],
    ['QQ==', true],
    ['Q===', false],
    ['QQ=', false],
    ['QQ==QQ==', false],
    ['QU J', false],
  ] as const)
    t.equal(isBase64(s), ok, JSON.stringify(s));
});

t.test('decodeBase64 decodes exactly what isBase64 accepts, and nothing else', async (t) => {
  const fc = (await import('fast-check')).default;
  const { decodeBase64, isBase64 } = await import('../../src/rules/data.js');
  const chars = fc.constantFrom(...'AZaz09+/=-_ \n\r'.split(''));
  const b64 = fc.string({ maxLength: 40 }).map((s) => Buffer.from(s).toString('base64'));
  const text = fc.oneof(
    fc.string({ unit: chars, maxLength: 24 }),
    b64,
    b64.map((s) => s + '='),
    // the last group with unused bits set (`QR==` for `QQ==`): StdEncoding accepts it
    b64
      .filter((s) => s.endsWith('='))
      .map((s) => s.slice(0, s.indexOf('=') - 1) + 'R' + s.slice(s.indexOf('='))),
    // one character of a valid value replaced, anywhere
    fc
      .tuple(b64, fc.nat(), fc.constantFrom(...'=-_ .*A'.split('')))
      .map(([s, at, c]) =>
        s === '' ? c : s.slice(0, at % s.length) + c + s.slice((at % s.length) + 1),
      ),
  );
  fc.assert(
    fc.property(text, (s) => {
      const v = s.replace(/[\r\n]/g, '');
      const d = decodeBase64(s);
      return isBase64(v) ? d === Buffer.from(v, 'base64').toString('utf8') : d === undefined;
    }),
    { numRuns: 20000 },
  );
  for (const [s, ok] of [
    ['', true],
    ['QQ==', true],
    ['QR==', true],
    ['QUJD\nQUJD', true],
    ['QQ==QUJD', false],
    ['Q===', false],
    ['====', false],
    ['QUJ-', false],
    ['QU-D' + 'QUJD'.repeat(10), false],
    ['QUJD'.repeat(10) + 'QU=D', false],
  ] as const)
    t.equal(decodeBase64(s) !== undefined, ok, JSON.stringify(s));
});
