import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import {
  parseCreateRunnerArgs,
  readPersonalAccessToken,
  run,
  secretManifest,
} from '../../src/cli/create-runner.js';

const PAT = 'glpat-UnitTestPersonal0001';

function io() {
  const o = { out: '', err: '' };
  return {
    o,
    io: { stdout: (s: string) => void (o.out += s), stderr: (s: string) => void (o.err += s) },
  };
}

t.test('parses a full command line', async (t) => {
  t.same(
    parseCreateRunnerArgs([
      '--url',
      'https://GitLab.example.com/',
      '--type',
      'group',
      '--group-id',
      '12',
      '--description',
      'd',
      '--tag-list',
      'a, b,,c',
      '--run-untagged',
      '--secret-name',
      's',
      '--namespace',
      'ns',
      '--token-file',
      '/f',
    ]),
    {
      url: 'https://gitlab.example.com',
      runnerType: 'group_type',
      groupId: 12,
      description: 'd',
      tagList: ['a', 'b', 'c'],
      runUntagged: true,
      secretName: 's',
      namespace: 'ns',
      tokenFile: '/f',
    },
  );
  t.same(parseCreateRunnerArgs(['--url', 'https://g.example', '--type', 'instance']), {
    url: 'https://g.example',
    runnerType: 'instance_type',
    runUntagged: false,
    secretName: 'gitlab-runner',
  });
  t.equal(parseCreateRunnerArgs(['--help']), 'help');
});

t.test('--token in any form is refused without echoing it', async (t) => {
  for (const argv of [
    ['--token', PAT],
    [`--token=${PAT}`],
    ['-t', PAT],
    ['--private-token', PAT],
    ['--url', 'https://g.example', '--type', 'instance', '--token', PAT],
  ]) {
    t.throws(() => parseCreateRunnerArgs(argv), /refusing --token/, argv.join(' '));
    try {
      parseCreateRunnerArgs(argv);
    } catch (e) {
      t.notMatch((e as Error).message, PAT);
    }
  }
});

t.test('usage errors', async (t) => {
  const bad: Array<[string[], RegExp]> = [
    [[], /--url is required/],
    [['--url', 'gitlab.example.com', '--type', 'instance'], /http\(s\) URL/],
    [['--url', 'https://root:secret@g.example', '--type', 'instance'], /without credentials/],
    [['--url', 'https://g.example'], /--type must be/],
    [['--url', 'https://g.example', '--type', 'shared'], /--type must be/],
    [['--url', 'https://g.example', '--type', 'group'], /needs --group-id/],
    [['--url', 'https://g.example', '--type', 'project'], /needs --project-id/],
    [['--url', 'https://g.example', '--type', 'project', '--project-id', '0'], /positive integer/],
    [
      ['--url', 'https://g.example', '--type', 'project', '--project-id', 'abc'],
      /positive integer/,
    ],
    [
      ['--url', 'https://g.example', '--type', 'instance', '--project-id', '3'],
      /only goes with --type project/,
    ],
    [
      ['--url', 'https://g.example', '--type', 'instance', '--secret-name', 'Bad_Name'],
      /not a valid Kubernetes name/,
    ],
    [
      ['--url', 'https://g.example', '--type', 'instance', '--namespace', 'a.b'],
      /not a valid Kubernetes namespace/,
    ],
    [['--url', 'https://g.example', '--type', 'instance', '--bogus'], /Unknown option/],
    [['--url', 'https://g.example', '--type', 'instance', 'extra'], /positional/i],
  ];
  for (const [argv, re] of bad) t.throws(() => parseCreateRunnerArgs(argv), re, argv.join(' '));
  t.notMatch(
    String(
      (() => {
        try {
          parseCreateRunnerArgs(['--url', 'https://root:secret@g.example', '--type', 'instance']);
        } catch (e) {
          return (e as Error).message;
        }
      })(),
    ),
    /secret/,
    'credentials in --url are not echoed',
  );
});

t.test('personal access token from env or file, never ambiguous', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gra-pat-'));
  const f = path.join(dir, 'pat');
  writeFileSync(f, `${PAT}\n`);
  t.equal(readPersonalAccessToken({}, { GITLAB_TOKEN: PAT }), PAT);
  t.equal(
    readPersonalAccessToken({ tokenFile: f }, { GITLAB_TOKEN: 'glpat-other000000000000' }),
    PAT,
    'file wins, newline trimmed',
  );
  t.throws(() => readPersonalAccessToken({}, {}), /set GITLAB_TOKEN or use --token-file/);
  t.throws(() => readPersonalAccessToken({}, { GITLAB_TOKEN: '  \n' }), /no personal access token/);
  t.throws(
    () => readPersonalAccessToken({ tokenFile: path.join(dir, 'missing') }, {}),
    /cannot read --token-file .*ENOENT/,
  );
  t.throws(
    () => readPersonalAccessToken({}, { GITLAB_TOKEN: 'glrt-AbCdEfGhIjKlMnOpQrSt' }),
    /runner token, not a personal access token/,
  );
  t.throws(
    () => readPersonalAccessToken({}, { GITLAB_TOKEN: 'GR1348941AbCdEfGhIjKlMnOpQrSt' }),
    /runner token/,
  );
  t.throws(() => readPersonalAccessToken({}, { GITLAB_TOKEN: 'glpat-a b' }), /whitespace/);
});

t.test('the Secret manifest parses as YAML with both chart keys', async (t) => {
  const y = secretManifest({
    name: 'gitlab-runner',
    namespace: 'ci',
    runnerToken: 'glrt-AbCdEfGhIjKlMnOpQrSt',
    runnerId: 7,
    url: 'https://g.example',
    tokenExpiresAt: '2031-01-01T00:00:00Z',
  });
  const doc = parse(y);
  t.same(doc, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'gitlab-runner',
      namespace: 'ci',
      annotations: {
        'gitlab-runner-admission/gitlab-url': 'https://g.example',
        'gitlab-runner-admission/runner-id': '7',
        'gitlab-runner-admission/token-expires-at': '2031-01-01T00:00:00Z',
      },
    },
    type: 'Opaque',
    stringData: { 'runner-token': 'glrt-AbCdEfGhIjKlMnOpQrSt', 'runner-registration-token': '' },
  });
  t.match(y, /^# runner 7 created in https:\/\/g\.example/);
  // a value YAML would otherwise read as another type stays a string
  t.equal(
    parse(
      secretManifest({
        name: 'x',
        runnerToken: '12345678901234567890',
        runnerId: 1,
        url: 'https://g.example',
      }),
    ).stringData['runner-token'],
    '12345678901234567890',
  );
});

t.test('run(): usage errors exit 2, unreachable GitLab exits 1, one line each', async (t) => {
  const a = io();
  t.equal(
    await run(['--url', 'https://g.example', '--type', 'instance', '--token', PAT], {}, a.io),
    2,
  );
  t.equal(a.o.out, '');
  t.equal(a.o.err.split('\n').filter(Boolean).length, 1);

  const b = io();
  t.equal(await run(['--url', 'https://g.example', '--type', 'instance'], {}, b.io), 2);
  t.match(b.o.err, /GITLAB_TOKEN/);

  const h = io();
  t.equal(await run(['--help'], {}, h.io), 0);
  t.match(h.o.out, /Example:/);
  t.match(h.o.out, /kubectl apply -f -/);

  // a port nobody listens on (127.0.0.1 only): connection refused, before any TLS
  const port = await new Promise<number>((ok) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => ok(p));
    });
  });
  const c = io();
  t.equal(
    await run(
      ['--url', `https://127.0.0.1:${port}`, '--type', 'instance'],
      { GITLAB_TOKEN: PAT },
      c.io,
    ),
    1,
  );
  t.equal(c.o.out, '');
  t.equal(c.o.err.split('\n').filter(Boolean).length, 1, c.o.err);
  t.match(c.o.err, /cannot reach GitLab at https:\/\/127\.0\.0\.1:\d+/);
  t.notMatch(c.o.err, PAT);
});
