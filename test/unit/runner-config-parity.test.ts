import t from 'tap';
import { isRunnerConfig, parseRunnerConfig } from '../../src/config/index.js';
import { decide } from '../../src/policy/decide.js';
import { evaluateObject } from '../../src/rules/evaluate.js';
import { redactSecrets } from '../../src/tokens/index.js';

/**
 * Issue 12 regressions: every config.toml spelling that gitlab-runner (BurntSushi/toml) reads
 * reaches the rules, with its line; configs it cannot load are denied. The generated version of
 * the same claims, against the real decoder, is test/fuzz/runner-config-oracle.test.ts.
 */

const REG = 'GR1348941AbCdEfGhJkMnPqRsTuVw';
const AUTH = 'glrt-Qw7eRt5yUi3oPa1sDf9G';

function review(toml: string, key = 'config.toml') {
  const ev = evaluateObject({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'runner', namespace: 'ci' },
    data: { [key]: toml },
  });
  const d = decide(ev.object ?? { kind: 'ConfigMap' }, ev.findings, 'enforce');
  return {
    ev,
    ids: ev.findings.map((f) => f.ruleId),
    denied: d.decision === 'deny',
    message: d.message ?? '',
  };
}

const registrationVariants: [string, string, number][] = [
  ['[[RUNNERS]]', `[[RUNNERS]]\n  name = "r"\n  token = "${REG}"\n`, 3],
  ['[[Runners]]', `[[Runners]]\n  token = "${REG}"\n`, 2],
  ['quoted header with escapes', `[["\\u0072unners"]]\n  token = "${REG}"\n`, 2],
  ['U+017F long s folds to s', `[["runner\u017f"]]\n  token = "${REG}"\n`, 2],
  ['Kelvin sign folds to k', `[[runners]]\n  "to\u212Aen" = "${REG}"\n`, 2],
  ['TOKEN', `[[runners]]\n  TOKEN = "${REG}"\n`, 2],
  [
    'array of inline tables, one line',
    `runners = [{ name = "r", url = "https://g.example", token = "${REG}" }]\n`,
    1,
  ],
  [
    'array of inline tables, several lines',
    `concurrent = 1\nrunners = [\n  { name = "a", token = "${AUTH}" },\n  { name = "r", url = "https://g.example",\n    token = "${REG}" },\n]\n`.replace(
      ',\n    token',
      ', token',
    ),
    4,
  ],
  [
    'CRLF, BOM and a comment after the header',
    `\uFEFF# c\r\n[[runners]] # the runner\r\n  token = "${REG}"\r\n`,
    3,
  ],
  ['multi-line basic string', `[[runners]]\n  token = """\n${REG}"""\n`, 2],
  ['literal string', `[[runners]]\n  token = '${REG}'\n`, 2],
];

for (const [label, toml, line] of registrationVariants) {
  t.test(`registration token via ${label}: denied (GRA001) at line ${line}`, async (t) => {
    t.ok(isRunnerConfig(toml), 'a runner config');
    const r = review(toml);
    t.ok(r.denied, 'denied');
    const f = r.ev.findings.find((x) => x.ruleId === 'GRA001');
    t.ok(f, 'GRA001');
    t.equal(f?.line, line, 'line of the token');
    t.notOk(r.message.includes(REG), 'token not echoed');
  });
}

t.test(
  'a clean [[runners]] followed by a [[RUNNERS]] with the registration token: both read, denied',
  async (t) => {
    const r = review(`[[runners]]\n  token = "${AUTH}"\n[[RUNNERS]]\n  token = "${REG}"\n`);
    t.ok(r.denied);
    t.ok(r.ids.includes('GRA001'), 'the second list is evaluated');
    t.ok(
      r.ids.includes('GRA011'),
      'two keys fold to runners: which list gitlab-runner uses changes per start',
    );
    t.match(
      r.message,
      /`runners` and `RUNNERS` at the top level both name the setting `runners`.*lines 1 and 3/,
    );
  },
);

t.test(
  'token and Token in one table: denied naming both lines, both values evaluated',
  async (t) => {
    const r = review(`[[runners]]\n  name = "r"\n  token = "${AUTH}"\n  Token = "${REG}"\n`);
    t.ok(r.denied);
    t.ok(r.ids.includes('GRA011'));
    t.ok(r.ids.includes('GRA001'), 'the registration token in the second spelling is found');
    t.match(r.message, /lines 3 and 4/);
    t.notOk(r.ids.includes('GRA006'), 'not "same token in two runners"');
  },
);

t.test(
  'configs gitlab-runner refuses to load are denied with reason and line (GRA010)',
  async (t) => {
    const cases: [string, string, number, RegExp][] = [
      [
        '[runners] table',
        `concurrent = 1\n[runners]\n  token = "${AUTH}"\n`,
        2,
        /`runners` is a table/,
      ],
      ['runners.token dotted key', `runners.token = "${AUTH}"\n`, 1, /`runners` is a table/],
      ['[RUNNERS] table', `[RUNNERS]\n  token = "${AUTH}"\n`, 1, /`RUNNERS` is a table/],
      [
        'token is a number',
        '[[runners]]\n  token = 12345\n',
        2,
        /`token` of \[\[runners\]\] #0 is a number/,
      ],
      ['element not a table', 'runners = [1]\n', 1, /element 0 of `runners` is a number/],
    ];
    for (const [label, toml, line, reason] of cases) {
      const r = review(toml);
      t.ok(r.denied, `${label}: denied`);
      const f = r.ev.findings.find((x) => x.ruleId === 'GRA010');
      t.equal(f?.line, line, `${label}: line`);
      t.match(f?.message, reason, `${label}: reason`);
    }
  },
);

t.test('TOML 1.0 mixed-type arrays load (gitlab-runner loads them): no false GRA004', async (t) => {
  const r = review(
    `[[runners]]\n  token = "${AUTH}"\n  [runners.docker]\n    volumes = ["/cache", 1]\n`,
  );
  t.notOk(r.ids.includes('GRA004'));
  t.notOk(r.denied);
});

t.test('decoys in comments and multi-line strings are not runners', async (t) => {
  const toml = `[[runners]]\n  token = "${AUTH}"\n  # [[runners]]\n  # token = "${REG}"\n  pre_build_script = """\n[[runners]]\ntoken = "${REG}"\n"""\n`;
  const r = review(toml);
  t.notOk(r.ids.includes('GRA001'));
  const p = parseRunnerConfig(toml);
  t.equal(p.ok && p.runners.length, 1);
  t.notOk(
    isRunnerConfig(`title = "x"\ndoc = """\n[[runners]]\ntoken = "${REG}"\n"""\n`),
    'a [[runners]] inside a string does not make a runner config',
  );
});

t.test("a .toml that is not gitlab-runner's passes untouched", async (t) => {
  t.notOk(review('[[inputs.cpu]]\n  percpu = true\n', 'telegraf.toml').ev.relevant);
  t.notOk(review('[tool.poetry]\nname = "runners"\n', 'pyproject.toml').ev.relevant);
});

t.test('a token in a runner name, data key or unknown key is never echoed whole', async (t) => {
  const toml = `[[runners]]\n  name = "r-${REG}"\n  token = "${REG}"\n  "x${AUTH}" = 1\n`;
  const r = review(toml, `${AUTH}.toml`);
  t.ok(r.denied);
  for (const secret of ['AbCdEfGhJkMnPqRsTuVw', 'Qw7eRt5yUi3oPa1sDf9G']) {
    for (let i = 0; i + 8 <= secret.length; i++)
      t.notOk(r.message.includes(secret.slice(i, i + 8)), `no ${secret.slice(i, i + 8)}`);
  }
  const audit = decide(r.ev.object!, r.ev.findings, 'audit').auditAnnotations ?? {};
  t.notOk(JSON.stringify(audit).includes('Qw7eRt5y'), 'audit annotations');
  const warn = decide(r.ev.object!, r.ev.findings, 'warn').warnings;
  t.notOk(JSON.stringify(warn).includes('AbCdEfGh'), 'warnings');
});

t.test('redactSecrets: tokens inside text masked, ordinary names kept', async (t) => {
  t.equal(redactSecrets(`runner-${REG}`), 'runner-GR1348941…TuVw');
  t.equal(redactSecrets(`name glrt-t1_AbCdEfGhJkMnPqRsTuVw end`), 'name glrt-t1_…TuVw end');
  t.equal(redactSecrets('AbCdEfGhJkMnPqRsTuVw'), '…TuVw', 'legacy 20');
  t.equal(
    redactSecrets('runner-fYZ8bsRvgJnAzncS7ytY.toml.toml'),
    '…toml',
    'legacy 20 inside a key',
  );
  t.equal(
    redactSecrets('spec.template.spec.initContainers[0].volumeMounts[0]'),
    'spec.template.spec.initContainers[0].volumeMounts[0]',
    'field paths',
  );
  t.equal(redactSecrets('0123456789abcdef0123456789abcd'), '…abcd', 'legacy hex30');
  t.equal(redactSecrets('glpat-AbCdEfGhJkMnPqRsTuVw'), 'glpat-…TuVw');
  for (const keep of [
    'gitlab-runner-config',
    'ois-cfa-runner-7f9c8d6b5-x2k4q',
    'CI_SERVER_TOKEN',
    'runner-registration-token',
    'valueFrom.secretKeyRef',
    'https://gitlab.example.com:8443/api/v4',
    'token GR1348941…wZsK is',
    // the official chart's values keys: long camelCase words are names, not tokens
    'runnerRegistrationToken, line 2',
    'gitlab-runner.runners.cache.secretName',
    'DockerMachineAutoscalingConfig',
  ]) {
    t.equal(redactSecrets(keep), keep, keep);
  }
  t.equal(
    redactSecrets('x'.repeat(2000)).length < 2000,
    true,
    'an overlong run is masked, not scanned',
  );
});

t.test(
  'the placeholder sentence "your runner token. Run gitlab-runner register" is not a request for a registration token',
  async (t) => {
    const r = review(
      '[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  token = "your runner token. Run gitlab-runner register"\n',
    );
    t.notOk(r.ids.includes('GRA008'), 'no GRA008');
    t.ok(
      review('[[runners]]\n  token = "YOUR_REGISTRATION_TOKEN"\n').ids.includes('GRA008'),
      'a real request for one still is',
    );
  },
);
