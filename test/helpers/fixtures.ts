import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
/** CI puts a copy of shared/ beside the clone; a plain clone has none. */
export const sharedDir = path.resolve(repoRoot, '../shared');
export const haveShared = existsSync(path.join(sharedDir, 'SPEC.md'));
export const SKIP_SHARED = haveShared
  ? false
  : `../shared is absent (a plain clone): corpus checks need the shared/ folder beside the repo`;
export const fixturesDir = path.join(repoRoot, 'test/fixtures');

export function readJson(p: string): any {
  return JSON.parse(readFileSync(p, 'utf8'));
}

export function readYamlDocs(p: string): any[] {
  return parseAllDocuments(readFileSync(p, 'utf8'))
    .map((d) => d.toJS())
    .filter((x) => x != null);
}

export function readTsv(p: string): Record<string, string>[] {
  const [head, ...rows] = readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const cols = (head ?? '').split('\t');
  return rows.map((r) => {
    const cells = r.split('\t');
    return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
  });
}

export function listFiles(dir: string): string[] {
  return readdirSync(dir).sort();
}

export const SEED_REG_TOKEN = 'GR1348941Xq7_pLm2VbN9cRt4wZsK';
export const SEED_AUTH_TOKEN = 'glrt-Tq3vZ8xYp2LmN6bW4cRs';
