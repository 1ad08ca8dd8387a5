import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fixturesDir, repoRoot, SEED_REG_TOKEN } from '../helpers/fixtures.js';

/**
 * The built CLI as a child process, for the real exit code and the real stdin. Built with the
 * same tsconfig as `npm run build`, into a private directory under node_modules/.cache (so
 * packages still resolve) rather than dist/, which other tests and `npm start` may be using.
 */

const outDir = path.join(repoRoot, 'node_modules/.cache', `gra-cli-check-${process.pid}`);
t.teardown(() => rm(outDir, { recursive: true, force: true }));

const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
// tsc still emits when files elsewhere in the tree have type errors; the check below is what counts.
// A full tsc build: past the runner's 120 s per-file timeout when the suite shares 2 cores with cluster tests.
t.setTimeout(300_000);
const build = spawnSync(
  process.execPath,
  [tsc, '-p', path.join(repoRoot, 'tsconfig.build.json'), '--outDir', outDir],
  { encoding: 'utf8', cwd: repoRoot },
);
const main = path.join(outDir, 'cli/main.js');

function bin(
  args: string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    cwd: repoRoot,
    input,
    env: { ...process.env, NO_COLOR: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test(
  'built CLI: exit codes 1 / 0 / 2 and stdin',
  { skip: existsSync(main) ? false : `build failed: ${build.stdout}${build.stderr}` },
  async (t) => {
    const seed = bin(['check', path.join(fixturesDir, 'seed')]);
    t.equal(seed.status, 1, seed.stderr);
    t.match(seed.stdout, /configmap-registration-token\.yaml:18: deny GRA001 /);
    t.notMatch(seed.stdout, SEED_REG_TOKEN);
    t.notMatch(seed.stdout, /\x1b\[/, 'no colour into a pipe');

    const clean = bin(['check', path.join(fixturesDir, 'seed/configmap-template.yaml')]);
    t.equal(clean.status, 0, clean.stdout + clean.stderr);

    const bad = bin([
      'check',
      '/nonexistent/gra.yaml',
      path.join(fixturesDir, 'seed/configmap-template.yaml'),
    ]);
    t.equal(bad.status, 2);
    t.equal(bad.stderr, '/nonexistent/gra.yaml: error: cannot read: no such file or directory\n');
    t.match(bad.stdout, /^1 file checked, /m, 'the other file was still checked');

    const stdin = bin(
      ['check', '-'],
      readFileSync(path.join(fixturesDir, 'seed/secret-swapped-keys.yaml'), 'utf8'),
    );
    t.equal(stdin.status, 1);
    t.match(stdin.stdout, /^<stdin>:10: deny GRA101 /m);

    const help = bin(['check', '--help']);
    t.equal(help.status, 0);
    t.match(help.stdout, /Examples:/);
    t.equal(bin(['check']).status, 2, 'no input is a usage error');
  },
);
