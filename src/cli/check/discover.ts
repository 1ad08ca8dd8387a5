import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isCandidateName } from './load.js';

/**
 * Which files the arguments name. Directories recurse (sorted, so output is stable), skipping
 * node_modules and .git and not following symlinked directories (no loops). Files named
 * directly are always read (an unknown name is sniffed); files found by walking only when their
 * name says config, manifest or template.
 */

export type Input =
  | { kind: 'file'; file: string }
  | { kind: 'stdin'; file: string }
  | { kind: 'error'; file: string; message: string };

const SKIP_DIRS = new Set(['node_modules', '.git']);

/** One line, no stack: `ENOENT: no such file or directory` → `no such file or directory`. */
export function ioMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EISDIR: 'is a directory',
    ELOOP: 'too many symbolic links',
    ENOTDIR: 'not a directory',
  };
  if (code && text[code]) return `cannot read: ${text[code]}`;
  const msg = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
  return `cannot read: ${msg}`;
}

async function walkDir(dir: string, out: Input[]): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    out.push({ kind: 'error', file: dir, message: ioMessage(err) });
    return;
  }
  for (const name of names) {
    const p = path.join(dir, name);
    let st;
    try {
      st = await lstat(p);
    } catch (err) {
      out.push({ kind: 'error', file: p, message: ioMessage(err) });
      continue;
    }
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(name)) await walkDir(p, out);
    } else if (st.isSymbolicLink()) {
      try {
        const target = await stat(p);
        if (target.isFile() && isCandidateName(name)) out.push({ kind: 'file', file: p });
      } catch {
        // a dangling link inside a tree is not something the user asked about
      }
    } else if (st.isFile() && isCandidateName(name)) {
      out.push({ kind: 'file', file: p });
    }
  }
}

export async function discover(args: readonly string[]): Promise<Input[]> {
  const out: Input[] = [];
  for (const a of args) {
    if (a === '-') {
      out.push({ kind: 'stdin', file: '<stdin>' });
      continue;
    }
    let st;
    try {
      st = await stat(a);
    } catch (err) {
      out.push({ kind: 'error', file: a, message: ioMessage(err) });
      continue;
    }
    if (st.isDirectory()) await walkDir(a, out);
    else out.push({ kind: 'file', file: a });
  }
  return out;
}

/** Larger than any ConfigMap (1 MiB) or AdmissionReview the apiserver sends; a guard, not a rule. */
export const MAX_BYTES = 16 * 1024 * 1024;

export async function readInput(
  file: string,
): Promise<{ ok: true; bytes: Buffer } | { ok: false; message: string }> {
  try {
    const st = await stat(file);
    if (st.size > MAX_BYTES)
      return { ok: false, message: `too large (${st.size} bytes, limit ${MAX_BYTES})` };
    return { ok: true, bytes: await readFile(file) };
  } catch (err) {
    return { ok: false, message: ioMessage(err) };
  }
}
