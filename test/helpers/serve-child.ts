import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot } from './fixtures.js';

/** `serve` in a child process, started and read the way an operator's log collector reads it. */
export interface ServeChild {
  proc: ChildProcess;
  /** the URL from the "listening" line */
  url: string;
  /** every stdout line so far (the JSON log), appended as they arrive */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `node <args>` (args end with the entry point and `serve`) with `env` on top of this
 * process's, and resolves once it logs that it listens; rejects with its stderr if it exits or
 * has not started within a minute. Stopping it is the caller's (SIGTERM, or SIGKILL in teardown).
 */
export async function spawnServe(args: string[], env: NodeJS.ProcessEnv): Promise<ServeChild> {
  // Not under tap's coverage: NODE_V8_COVERAGE, inherited, turns on V8's block coverage in the
  // child, which slows every function it runs; the child is measured as production runs it.
  const { NODE_V8_COVERAGE: _coverage, ...inherited } = process.env;
  const proc = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let buf = '';
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve did not start: ${stderr.slice(-2000)}`)),
      60_000,
    );
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        try {
          const o = JSON.parse(line) as { msg?: string; url?: string };
          if (o.msg === 'gitlab-runner-admission listening' && o.url) {
            clearTimeout(timer);
            resolve(o.url);
          }
        } catch {
          // not JSON
        }
      }
    });
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`serve exited early (${e.code}/${e.signal}): ${stderr.slice(-2000)}`));
    });
  });
  return { proc, url, lines, exited };
}
