import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './fixtures.js';

/**
 * gitlab-runner's TOML decoding as a referee: test/oracle/runner-config/main.go, built here
 * against Debian's golang-github-burntsushi-toml-dev (GOPATH mode, offline), answering one
 * config per line so thousands of cases cost seconds. `.ci/run` installs golang-go and the
 * package; elsewhere the tests skip with ORACLE_SKIP.
 */

const GOPATH = '/usr/share/gocode';
const TOML_PKG = path.join(GOPATH, 'src/github.com/BurntSushi/toml');

function goPresent(): boolean {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  return r.status === 0;
}

export const ORACLE_SKIP: string | false = !goPresent()
  ? '`go` is not installed (apt-get install golang-go): the BurntSushi/toml differential oracle cannot run'
  : !existsSync(path.join(TOML_PKG, 'decode.go'))
    ? `${TOML_PKG} is missing (apt-get install golang-github-burntsushi-toml-dev): the differential oracle cannot run`
    : false;

export interface OracleRunner {
  name: string;
  url: string;
  token: string;
  executor: string;
}
export type OracleResult = { ok: true; runners?: OracleRunner[] } | { ok: false; error: string };

export interface Oracle {
  decode(texts: readonly string[]): Promise<OracleResult[]>;
  close(): Promise<void>;
}

export async function startOracle(): Promise<Oracle> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gra-oracle-'));
  const bin = path.join(dir, 'runner-config-oracle');
  const build = spawnSync('go', ['build', '-o', bin, '.'], {
    cwd: path.join(repoRoot, 'test/oracle/runner-config'),
    encoding: 'utf8',
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH,
      GOCACHE: path.join(dir, 'cache'),
      GOFLAGS: '',
      CGO_ENABLED: '0',
    },
  });
  if (build.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`building the oracle failed: ${build.stderr}`);
  }
  const child: ChildProcessWithoutNullStreams = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  const waiting: ((line: string) => void)[] = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  return {
    async decode(texts) {
      const answers = texts.map(() => new Promise<string>((resolve) => waiting.push(resolve)));
      child.stdin.write(texts.map((t) => JSON.stringify(t)).join('\n') + '\n');
      return (await Promise.all(answers)).map((l) => JSON.parse(l) as OracleResult);
    },
    async close() {
      child.stdin.end();
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
