import t from 'tap';
import { chmod, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HELP, runCheck, useColor, type CheckIo } from '../../src/cli/check.js';
import { fieldPath } from '../../src/cli/check/positions.js';
import { ALL_RULES } from '../../src/rules/registry.js';
import { fixturesDir, SEED_AUTH_TOKEN, SEED_REG_TOKEN } from '../helpers/fixtures.js';

const seedDir = path.join(fixturesDir, 'seed');
const admissionDir = path.join(fixturesDir, 'admission');

interface Captured {
  code: number;
  out: string;
  err: string;
}

async function check(
  argv: string[],
  opts: { stdin?: string | Buffer; isTTY?: boolean; env?: Record<string, string> } = {},
): Promise<Captured> {
  const c = { out: '', err: '' };
  const io: CheckIo = {
    stdout: (s) => void (c.out += s),
    stderr: (s) => void (c.err += s),
    readStdin: async () =>
      typeof opts.stdin === 'string' ? Buffer.from(opts.stdin) : (opts.stdin ?? Buffer.alloc(0)),
    isTTY: opts.isTTY ?? false,
    env: opts.env ?? {},
  };
  const code = await runCheck(argv, io);
  return { code, ...c };
}

async function tmp(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gra-check-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}

const REG = SEED_REG_TOKEN;
const runnerToml = (token: string): string =>
  `concurrent = 1\n\n[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  token = "${token}"\n  executor = "shell"\n`;

t.test('seed fixtures: exit 1, the deny rules, file lines, tokens redacted', async (t) => {
  const r = await check([seedDir]);
  t.equal(r.code, 1, r.err);
  t.equal(r.err, '');
  // facts §5: a registration token in [[runners]] token; in the chart's runner-token key; both keys set.
  for (const id of ['GRA001', 'GRA101', 'GRA103'])
    t.match(r.out, new RegExp(`: deny ${id} `), `${id} denied`);
  // config.toml line 8 (`token = …`) is line 18 of the YAML file: the block scalar starts on line 11.
  t.match(
    r.out,
    `${path.join(seedDir, 'configmap-registration-token.yaml')}:18: deny GRA001 ConfigMap gitlab-runner/gitlab-runner-config: key "config.toml", [[runners]] #0 "ois-cfa-runner", line 8: `,
  );
  t.match(r.out, /\n {2}fix: /);
  t.notMatch(r.out, REG);
  t.notMatch(r.out, SEED_AUTH_TOKEN);
  // 4: the seed Deployments are linked with the seed ConfigMap of the same name (GRA211)
  t.match(
    r.out,
    /6 files checked, 0 objects skipped \(not runner configs or workloads\), 4 denied, \d+ warnings/,
  );
  t.notMatch(r.out, /\x1b\[/, 'no colour when not a TTY');
});

t.test('the template fix and its Secret pass alone', async (t) => {
  const r = await check([
    path.join(seedDir, 'configmap-template.yaml'),
    path.join(seedDir, 'secret-runner-tokens.yaml'),
  ]);
  t.equal(r.code, 0, r.out + r.err);
  t.match(
    r.out,
    /^2 files checked, 0 objects skipped \(not runner configs or workloads\), 0 denied, 0 warnings\n$/,
  );
});

t.test(
  'config.toml file: TOML line and column are file positions; broken TOML is GRA004 (exit 1, not 2)',
  async (t) => {
    const dir = await tmp({
      'config.toml': runnerToml(REG),
      'broken.toml': 'concurrent = 4\n\n[[runners\n  name = "x"\n',
    });
    const r = await check([path.join(dir, 'config.toml')]);
    t.equal(r.code, 1);
    t.match(
      r.out,
      `${path.join(dir, 'config.toml')}:6: deny GRA001 [[runners]] #0 "r", line 6: token GR1348941…`,
    );
    const b = await check([path.join(dir, 'broken.toml')]);
    t.equal(b.code, 1, 'broken TOML in a runner config is a deny finding, not an I/O error');
    t.equal(b.err, '');
    t.match(
      b.out,
      new RegExp(
        `broken\\.toml:3:\\d+: deny GRA004 line 3, column \\d+: this runner config is not valid TOML`,
      ),
    );
  },
);

t.test(
  'bad inputs: one-line error with the path, exit 2, the other files still checked',
  async (t) => {
    const dir = await tmp({
      'binary.yaml': Buffer.from([0x61, 0x3a, 0x00, 0x01, 0xff, 0xfe]),
      'latin1.yaml': Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]),
      'broken.yaml': `apiVersion: v1\nkind: Secret\ndata:\n  runner-token: [${REG}\n  x: {\n`,
      'broken.toml': '[[runners\n',
      'broken.json': `{"kind": "ConfigMap", "data": {"token": "${REG}"`,
      'good/config.toml': runnerToml(REG),
    });
    const loop = path.join(dir, 'loop.yaml');
    await symlink(loop, loop);
    const missing = path.join(dir, 'missing.toml');
    const r = await check([dir, missing, loop]);
    t.equal(r.code, 2);
    const lines = r.err.trimEnd().split('\n');
    const expect: [string, RegExp][] = [
      ['binary.yaml', /binary file/],
      ['latin1.yaml', /not UTF-8 text/],
      ['broken.yaml', /YAML does not parse/],
      ['broken.json', /JSON does not parse/],
      ['missing.toml', /cannot read: no such file or directory/],
      ['loop.yaml', /cannot read: too many symbolic links/],
    ];
    t.equal(lines.length, expect.length, r.err);
    for (const [name, re] of expect) {
      const line = lines.find((l) => l.startsWith(path.join(dir, name)));
      t.ok(line, `error line for ${name}`);
      t.match(line ?? '', re);
      t.match(line ?? '', /: error: /);
    }
    t.notMatch(r.err, REG, 'no file content in errors');
    t.notMatch(r.out, REG);
    t.match(r.out, /good\/config\.toml:6: deny GRA001/, 'the good file is still checked');
    t.match(
      r.out,
      /broken\.toml:1:\d+: deny GRA004/,
      'broken TOML is a finding beside the I/O errors',
    );
    t.match(r.out, /6 errors/);
  },
);

t.test(
  'an unreadable file (permissions)',
  { skip: process.getuid?.() === 0 ? 'running as root: permissions do not stop reads' : false },
  async (t) => {
    const dir = await tmp({ 'secret.yaml': 'kind: Secret\n' });
    await chmod(path.join(dir, 'secret.yaml'), 0o000);
    const r = await check([path.join(dir, 'secret.yaml')]);
    t.equal(r.code, 2);
    t.match(r.err, /secret\.yaml: error: cannot read: permission denied/);
  },
);

t.test('--format json parses and carries rule ids, verdicts and errors', async (t) => {
  const r = await check(['--format', 'json', seedDir, '/nonexistent/gra-check']);
  t.equal(r.code, 2);
  const doc = JSON.parse(r.out);
  t.equal(doc.version, 1);
  t.equal(doc.mode, 'enforce');
  t.equal(doc.exitCode, 2);
  const ids = new Set(doc.findings.map((f: { ruleId: string }) => f.ruleId));
  for (const id of ['GRA001', 'GRA101', 'GRA103']) t.ok(ids.has(id), id);
  const g1 = doc.findings.find((f: { ruleId: string }) => f.ruleId === 'GRA001');
  t.match(g1, {
    severity: 'deny',
    outcome: 'deny',
    line: 18,
    tomlLine: 8,
    dataKey: 'config.toml',
    object: { kind: 'ConfigMap', namespace: 'gitlab-runner', name: 'gitlab-runner-config' },
  });
  t.match(g1.token, /^GR1348941…/);
  t.notMatch(r.out, REG);
  const byFile = Object.fromEntries(
    doc.files.map((f: { file: string; verdict: string }) => [path.basename(f.file), f.verdict]),
  );
  t.same(byFile, {
    'configmap-registration-token.yaml': 'deny',
    'configmap-template.yaml': 'allow',
    'deployment-initcontainer-variant3.yaml': byFile['deployment-initcontainer-variant3.yaml'],
    'deployment-run.yaml': byFile['deployment-run.yaml'],
    'secret-runner-tokens.yaml': 'allow',
    'secret-swapped-keys.yaml': 'deny',
    'gra-check': 'error',
  });
  t.same(doc.errors, [
    { file: '/nonexistent/gra-check', message: 'cannot read: no such file or directory' },
  ]);
  t.match(r.err, /^\/nonexistent\/gra-check: error: cannot read/, 'errors also on stderr');
});

t.test(
  '--format sarif: SARIF 2.1.0 structure, rules from the catalog, results with locations',
  async (t) => {
    const r = await check(['--format', 'sarif', seedDir]);
    t.equal(r.code, 1);
    const s = JSON.parse(r.out);
    t.equal(s.version, '2.1.0');
    t.match(s.$schema, /sarif-schema-2\.1\.0\.json$/);
    t.equal(s.runs.length, 1);
    const run = s.runs[0];
    t.equal(run.tool.driver.name, 'gitlab-runner-admission');
    const rules: { id: string; shortDescription: { text: string } }[] = run.tool.driver.rules;
    const ruleIds = rules.map((x) => x.id);
    t.same(
      ruleIds.filter((id) => ALL_RULES.some((x) => x.id === id)),
      ALL_RULES.map((x) => x.id),
      'the whole registry, not only the rules that fired',
    );
    t.ok(
      ruleIds.includes('GRA004') && ruleIds.includes('GRA007'),
      'rules that did not fire are listed too',
    );
    t.equal(new Set(ruleIds).size, ruleIds.length, 'rule ids unique');
    t.equal(
      rules.find((x) => x.id === 'GRA001')?.shortDescription.text,
      'registration token in [[runners]] token',
    );
    t.ok(run.results.length > 0);
    for (const res of run.results) {
      t.equal(rules[res.ruleIndex]?.id, res.ruleId, 'ruleIndex points at the rule');
      t.ok(['error', 'warning', 'note'].includes(res.level));
      const loc = res.locations[0].physicalLocation;
      t.type(loc.artifactLocation.uri, 'string');
      t.ok(loc.region.startLine >= 1);
    }
    const g1 = run.results.find((x: { ruleId: string }) => x.ruleId === 'GRA001');
    t.equal(g1.level, 'error');
    t.equal(g1.locations[0].physicalLocation.region.startLine, 18);
    t.match(
      g1.locations[0].physicalLocation.artifactLocation.uri,
      /configmap-registration-token\.yaml$/,
    );
    t.equal(run.invocations[0].executionSuccessful, true);
    t.notMatch(r.out, REG);
  },
);

t.test('sarif: I/O errors become tool execution notifications', async (t) => {
  const r = await check(['-f', 'sarif', '/nonexistent/x.yaml']);
  t.equal(r.code, 2);
  const inv = JSON.parse(r.out).runs[0].invocations[0];
  t.equal(inv.executionSuccessful, false);
  t.match(inv.toolExecutionNotifications[0], { level: 'error', message: { text: /cannot read/ } });
});

t.test(
  'modes: warn and audit do not fail on deny findings unless --strict; annotations only make it stricter',
  async (t) => {
    const cm = path.join(seedDir, 'configmap-registration-token.yaml');
    const w = await check(['--mode', 'warn', cm]);
    t.equal(w.code, 0);
    t.match(w.out, /: warn GRA001 /);
    t.match(w.out, /0 denied, 2 warnings \(mode warn: 1 deny finding reported as warnings\)/);
    t.equal((await check(['--mode', 'audit', cm])).code, 0);
    t.equal((await check(['--mode', 'warn', '--strict', cm])).code, 1);
    t.equal(
      (await check(['--strict', path.join(seedDir, 'deployment-run.yaml')])).code,
      1,
      'warnings fail with --strict',
    );
    t.equal(
      (await check([path.join(seedDir, 'deployment-run.yaml')])).code,
      0,
      'warnings alone pass',
    );

    const annotated = (mode: string): string =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    gitlab-runner-admission/mode: ${mode}\ndata:\n  config.toml: |\n${runnerToml(REG).replace(/^/gm, '    ')}`;
    t.equal(
      (await check(['--mode', 'warn', '-'], { stdin: annotated('enforce') })).code,
      1,
      'annotation enforce beats --mode warn',
    );
    t.equal(
      (await check(['--mode', 'enforce', '-'], { stdin: annotated('audit') })).code,
      1,
      'annotation audit cannot loosen enforce',
    );
  },
);

t.test('colour only on a TTY and never with NO_COLOR', async (t) => {
  const cm = path.join(seedDir, 'configmap-registration-token.yaml');
  t.match((await check([cm], { isTTY: true })).out, /\x1b\[31m/);
  t.notMatch((await check([cm], { isTTY: true, env: { NO_COLOR: '1' } })).out, /\x1b\[/);
  t.notMatch((await check([cm], { isTTY: false })).out, /\x1b\[/);
  t.equal(
    useColor({ isTTY: true, env: { NO_COLOR: '' } }),
    true,
    'an empty NO_COLOR does not count (no-color.org)',
  );
  t.notMatch((await check(['-f', 'json', cm], { isTTY: true })).out, /\x1b\[/, 'never in json');
});

t.test(
  'stdin: TOML, YAML, and AdmissionReview JSON (request.kind wins; DELETE skipped)',
  async (t) => {
    const toml = await check(['-'], { stdin: runnerToml(REG) });
    t.equal(toml.code, 1);
    t.match(toml.out, /^<stdin>:6: deny GRA001 /m);

    const yaml = await check(['-'], {
      stdin: await readFile(path.join(seedDir, 'secret-swapped-keys.yaml')),
    });
    t.equal(yaml.code, 1);
    t.match(yaml.out, /^<stdin>:10: deny GRA101 /m);

    const review = await check([
      path.join(admissionDir, 'configmap-create-registration-token.json'),
    ]);
    t.equal(review.code, 1);
    t.match(review.out, /configmap-create-registration-token\.json:\d+: deny GRA001 ConfigMap /);

    const del = await check(['-v', path.join(admissionDir, 'configmap-delete.json')]);
    t.equal(del.code, 0);
    t.match(del.out, /1 file checked, 1 object skipped/);
    t.match(del.out, /AdmissionReview DELETE: nothing to check/);
  },
);

t.test(
  'manifests: multi-document, List items, helm-template output; other objects counted as skipped',
  async (t) => {
    const cmBody = runnerToml(REG).replace(/^/gm, '        ');
    const list = `apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: s}\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: in-list\n    data:\n      config.toml: |\n${cmBody}`;
    const multi = `---\n# Source: chart/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: tok\nstringData:\n  runner-token: "${REG}"\n`;
    const dir = await tmp({
      'list.yaml': list,
      'multi.yml': multi,
      'values.yaml': 'runners:\n  config: |\n    [[runners]]\n',
    });
    const r = await check([dir]);
    t.equal(r.code, 1, r.err);
    // list.yaml: the config starts on line 13; TOML line 6 is line 18
    t.match(r.out, /list\.yaml:18: deny GRA001 ConfigMap in-list: /);
    t.match(r.out, /multi\.yml:13: deny GRA101 Secret tok: key "runner-token"/);
    // values.yaml has the gitlab-runner chart's shape (runners.config with [[runners]]): checked, not skipped
    t.match(r.out, /3 files checked, 2 objects skipped \(not runner configs or workloads\)/);
  },
);

t.test(
  'template sources are skipped and said so; a YAML mistake that only looks like one is an error',
  async (t) => {
    const helmCm =
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "x.fullname" . }}\ndata:\n  config.toml: |\n    [[runners]]\n      token = {{ .Values.token | quote }}\n';
    const parsedTemplate =
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "{{ .Release.Name }}"\ndata:\n  config.toml: |\n    [[runners]]\n    {{- if .Values.x }}\n      token = "{{ .Values.token }}"\n    {{- end }}\n';
    const dir = await tmp({
      'tpl/runner.tftpl': '[[runners]]\n  token = "${token}"\n%{ if x }\n',
      'tpl/config.toml': '[[runners]]\n  token = {{ .Values.runnerToken }}\n',
      'tpl/cm.yaml': helmCm,
      'tpl/parsed.yaml': parsedTemplate,
      'tpl/values.yaml.gotmpl': 'x: {{ .Values.y }}\n',
      'bad/secret.yaml':
        'apiVersion: v1\nkind: Secret\ndata:\n  runner-registration-token: {{Base64 Token}}\n',
    });
    const r = await check([path.join(dir, 'tpl')]);
    t.equal(r.code, 0, r.out + r.err);
    t.match(r.out, /runner\.tftpl: skipped: template source, not TOML until rendered/);
    t.match(r.out, /config\.toml: skipped: template source, not TOML until rendered/);
    t.match(r.out, /cm\.yaml: skipped: template source \(Helm\/Go template\)/);
    t.match(r.out, /values\.yaml\.gotmpl: skipped: template source/);
    t.match(r.out, /parsed\.yaml: data\[config\.toml\]: skipped, template source/);
    t.notMatch(r.out, /GRA004/, 'a template is never reported as broken TOML');
    const bad = await check([path.join(dir, 'bad')]);
    t.equal(bad.code, 2);
    t.match(bad.err, /secret\.yaml:4:\d+: error: YAML does not parse as Kubernetes reads it/);
  },
);

t.test(
  'directory walk: only config/manifest names; a non-runner .toml is skipped, named or not',
  async (t) => {
    const dir = await tmp({
      'pyproject.toml': '[project]\nname = "x"\n',
      'README.md': `token ${REG}\n`,
      'node_modules/dep/config.toml': runnerToml(REG),
      '.git/config.toml': runnerToml(REG),
      'sub/config.toml': runnerToml('glrt-Tq3vZ8xYp2LmN6bW4cRs'),
    });
    const r = await check(['-v', dir]);
    t.equal(r.code, 0, r.out);
    t.match(r.out, /pyproject\.toml: skipped: not a runner config/);
    t.notMatch(r.out, /node_modules|\.git\//);
    t.notMatch(r.out, /README/);
    t.match(r.out, /sub\/config\.toml: ok/);
    t.match(r.out, /^1 file checked, 1 file skipped, /m);
    const named = await check([
      '-v',
      path.join(dir, 'pyproject.toml'),
      path.join(dir, 'README.md'),
    ]);
    t.equal(named.code, 0);
    t.match(
      named.out,
      /pyproject\.toml: skipped: not a runner config/,
      'pre-commit passes every staged file by name',
    );
    t.match(
      named.out,
      /README\.md: ok \(0 runner objects, 1 other object\)/,
      'a named file with another extension is sniffed',
    );
  },
);

t.test('usage: --help with an example, bad flags and no input exit 2', async (t) => {
  const h = await check(['--help']);
  t.equal(h.code, 0);
  t.equal(h.out, HELP);
  t.match(HELP, /Examples?:\n {2}gitlab-runner-admission check /);
  const none = await check([]);
  t.equal(none.code, 2);
  t.match(none.err, /no input/);
  const bad = await check(['--format', 'xml', '--mode', 'strict', 'x']);
  t.equal(bad.code, 2);
  t.match(bad.err, /--format must be one of text, json, sarif/);
  t.match(bad.err, /--mode must be one of enforce, warn, audit/);
  t.equal((await check(['--nope', 'x'])).code, 2);
});

t.test(
  '--output writes the machine format to a file and keeps the text report on stdout',
  async (t) => {
    const dir = await tmp({});
    const out = path.join(dir, 'report.sarif');
    const r = await check([
      '-f',
      'sarif',
      '-o',
      out,
      path.join(seedDir, 'configmap-registration-token.yaml'),
    ]);
    t.equal(r.code, 1);
    t.match(r.out, /deny GRA001/);
    t.equal(JSON.parse(await readFile(out, 'utf8')).version, '2.1.0');
  },
);

t.test('fieldPath', async (t) => {
  t.same(fieldPath('spec.template.spec.containers[0].env[2]'), [
    'spec',
    'template',
    'spec',
    'containers',
    0,
    'env',
    2,
  ]);
  t.same(fieldPath('data[config.toml]'), ['data', 'config.toml']);
  t.same(fieldPath('stringData[runner-token]'), ['stringData', 'runner-token']);
});

t.test('issue 12: the CLI reads what kubectl reads', async (t) => {
  // Secret data wrapped at 76 columns, as `base64` prints it: Go's decoder skips the newlines
  const toml = `[[runners]]\n  name = "wrapped"\n  url = "https://gitlab.example.com"\n  token = "${SEED_REG_TOKEN}"\n  executor = "kubernetes"\n`;
  const wrapped = Buffer.from(toml)
    .toString('base64')
    .replace(/(.{76})/g, '$1\n');
  t.ok(wrapped.includes('\n'), 'really wrapped');
  const secret = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: cfg\ndata:\n  config.toml: |\n${wrapped
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')}\n`;
  const s = await check(['-'], { stdin: secret });
  t.equal(s.code, 1, 'read and denied, not an input error');
  t.match(s.out, /GRA001/);
  t.notMatch(s.out, /GRA105|not valid base64|rejected/);

  // a real-shaped Pod whose double-quoted args string continues on tab-indented lines
  const pod = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  name: runner',
    'spec:',
    '  containers:',
    '    - name: runner',
    '      image: gitlab/gitlab-runner:v17.0.0',
    '      command: ["/bin/sh", "-c"]',
    '      args:',
    '        - "gitlab-runner register --non-interactive',
    '\t\t--url https://gitlab.example.com',
    `\t\t--registration-token ${SEED_AUTH_TOKEN} && exec gitlab-runner run"`,
    '',
  ].join('\n');
  const p = await check(['-'], { stdin: pod });
  t.not(p.code, 2, `read, not "Missing closing quote": ${p.err}`);
  t.match(
    p.out,
    /GRA203/,
    'the authentication token passed as a registration token is found in the folded string',
  );
  t.notOk(p.out.includes(SEED_AUTH_TOKEN), 'redacted');

  // a tab before a key is an error for kubectl too
  const bad = await check(['-'], { stdin: 'apiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n' });
  t.equal(bad.code, 2);
});
