import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { startFakeGitlab } from '../helpers/fake-gitlab.js';

/**
 * `gitlab-runner-admission create-runner` end to end: the real CLI entry (src/cli/main.ts) in a
 * child process, against the fake GitLab over HTTPS, trusting the fake's CA the documented way
 * (NODE_EXTRA_CA_CERTS: gitbeaker goes through Node's global fetch).
 */

const repoRoot = path.resolve(import.meta.dirname, '../..');
const gl = await startFakeGitlab();
t.teardown(() => gl.close());

const PAT = 'glpat-CreateRunnerScope0001';
const PAT_NO_SCOPE = 'glpat-ReadApiOnlyScope00002';
gl.addPersonalAccessToken(PAT, ['create_runner']);
gl.addPersonalAccessToken(PAT_NO_SCOPE, ['read_api']);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        '--import=@tapjs/typescript/import',
        path.join(repoRoot, 'src/cli/main.ts'),
        'create-runner',
        ...args,
      ],
      {
        cwd: repoRoot,
        // transpile-only: type checking is tsc's job, and a loaded CI box needs seconds per type-checked start
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          TS_NODE_TRANSPILE_ONLY: '1',
          NODE_EXTRA_CA_CERTS: gl.caFile,
          ...env,
        },
        timeout: 100_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// Child processes start slowly (TypeScript loader); run them side by side.
const dir = mkdtempSync(path.join(os.tmpdir(), 'gra-create-runner-'));
const patFile = path.join(dir, 'pat');
writeFileSync(patFile, PAT + '\n'); // trailing newline as `echo` writes it
const [created, noScope, viaFile, refused, untrusted] = await Promise.all([
  cli(
    [
      '--url',
      gl.url,
      '--type',
      'project',
      '--project-id',
      '42',
      '--description',
      'k8s runner',
      '--tag-list',
      'k8s, docker',
      '--run-untagged',
      '--secret-name',
      'runner-auth',
      '--namespace',
      'ci',
    ],
    { GITLAB_TOKEN: PAT },
  ),
  cli(['--url', gl.url, '--type', 'instance'], { GITLAB_TOKEN: PAT_NO_SCOPE }),
  cli(['--url', gl.url, '--type', 'group', '--group-id', '7', '--token-file', patFile]),
  cli(['--url', gl.url, '--type', 'instance', '--token', PAT]),
  cli(['--url', gl.url, '--type', 'instance'], { GITLAB_TOKEN: PAT, NODE_EXTRA_CA_CERTS: '' }),
]);

t.test(
  'creates a project runner and prints a Secret manifest that kubectl can apply',
  async (t) => {
    t.equal(created.code, 0, created.stderr);
    const doc = parse(created.stdout);
    t.equal(doc.apiVersion, 'v1');
    t.equal(doc.kind, 'Secret');
    t.equal(doc.metadata.name, 'runner-auth');
    t.equal(doc.metadata.namespace, 'ci');
    t.equal(doc.type, 'Opaque');
    t.same(Object.keys(doc.stringData).sort(), ['runner-registration-token', 'runner-token']);
    t.equal(doc.stringData['runner-registration-token'], '');
    const made = gl.created.find((c) => c.token === doc.stringData['runner-token']);
    t.ok(made, 'runner-token is the token GitLab returned');
    t.match(doc.stringData['runner-token'], /^glrt-/);
    t.equal(doc.metadata.annotations['gitlab-runner-admission/runner-id'], String(made!.id));

    const req = gl.requests.find(
      (r) => r.path === '/api/v4/user/runners' && r.body.project_id !== undefined,
    );
    t.ok(req, 'POST /api/v4/user/runners');
    t.equal(req!.headers['private-token'], PAT, 'PAT sent as PRIVATE-TOKEN');
    t.equal(req!.body.runner_type, 'project_type');
    t.equal(req!.body.project_id, 42);
    t.equal(req!.body.description, 'k8s runner');
    t.same(req!.body.tag_list, ['k8s', 'docker']);
    t.equal(req!.body.run_untagged, true);

    t.notMatch(created.stderr, doc.stringData['runner-token'], 'the new token goes to stdout only');
    t.notMatch(created.stdout + created.stderr, PAT, 'the personal access token is never printed');
    t.match(created.stderr, /created project runner \d+/);
  },
);

t.test('a token without create_runner: one clear line, exit 1, nothing on stdout', async (t) => {
  t.equal(noScope.code, 1);
  t.equal(noScope.stdout, '');
  t.equal(noScope.stderr.trim().split('\n').length, 1, noScope.stderr);
  t.match(noScope.stderr, /403.*create_runner/);
  t.notMatch(noScope.stderr, PAT_NO_SCOPE);
});

t.test('--token-file with a trailing newline works (group runner)', async (t) => {
  t.equal(viaFile.code, 0, viaFile.stderr);
  const doc = parse(viaFile.stdout);
  t.equal(doc.metadata.name, 'gitlab-runner', 'default Secret name');
  t.notOk('namespace' in doc.metadata, 'no namespace unless asked');
  const req = gl.requests.find(
    (r) => r.path === '/api/v4/user/runners' && r.body.runner_type === 'group_type',
  );
  t.equal(req?.headers['private-token'], PAT, 'newline trimmed before use');
  t.equal(req?.body.group_id, 7);
});

t.test('--token on the command line is refused before anything is sent', async (t) => {
  t.equal(refused.code, 2);
  t.equal(refused.stdout, '');
  t.match(refused.stderr, /refusing --token/);
  t.match(refused.stderr, /GITLAB_TOKEN|--token-file/);
  t.notMatch(refused.stderr, PAT, 'the refused value is not echoed');
  t.notOk(
    gl.requests.some(
      (r) => r.headers['private-token'] === PAT && r.body.runner_type === 'instance_type',
    ),
  );
});

t.test('a GitLab whose CA is not trusted: exit 1 and a hint at NODE_EXTRA_CA_CERTS', async (t) => {
  t.equal(untrusted.code, 1);
  t.equal(untrusted.stdout, '');
  t.match(untrusted.stderr, /cannot reach GitLab at .*NODE_EXTRA_CA_CERTS/);
  t.equal(untrusted.stderr.trim().split('\n').length, 1);
});
