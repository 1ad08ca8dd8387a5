#!/usr/bin/env node
/**
 * npm run fuzz — the fast-check properties of test/fuzz with enough runs for ~100k cases in total
 * (5 properties × FUZZ_RUNS, default 20000 each). The CI run of the same files uses a few hundred.
 * A failure prints fast-check's seed and path; re-run one case with FUZZ_SEED=<seed> (and the
 * counterexample in the report). Env: FUZZ_CASES (total, default 100000), FUZZ_SEED.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const PROPERTIES = 6; // reviews.test.ts: 3 (+1 todo, 50 runs), documents.test.ts: 2, runner-config-oracle.test.ts: 1
const total = Number(process.env.FUZZ_CASES || 100_000);
const perProperty = Math.max(1, Math.ceil(total / PROPERTIES));
console.log(
  `fuzz: ${PROPERTIES} properties × ${perProperty} runs${process.env.FUZZ_SEED ? `, seed ${process.env.FUZZ_SEED}` : ''}`,
);
const started = Date.now();
const r = spawnSync(
  'npx',
  [
    'tap',
    '--disable-coverage',
    '--timeout',
    '3600',
    '--reporter',
    'terse',
    'test/fuzz/reviews.test.ts',
    'test/fuzz/documents.test.ts',
    'test/fuzz/runner-config-oracle.test.ts',
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, FUZZ_RUNS: String(perProperty) },
  },
);
console.log(
  `fuzz: ${r.status === 0 ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s`,
);
process.exit(r.status ?? 1);
