#!/usr/bin/env node
/**
 * npm test: tap in two phases. First every test file but test/timing/, in parallel (tap's
 * `jobs`); then test/timing/ one file at a time with nothing else running. The timing tests
 * assert wall-clock bounds (issue 14: a hostile review answered within 250 ms, /healthz within
 * 50 ms meanwhile) that hold for a webhook with its CPUs, not for one sharing 2 CPUs with
 * another test file's apiserver or fuzzer. Arguments go to both phases (e.g. --reporter=tap);
 * with test files among them, tap runs just those, once.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const args = process.argv.slice(2);
const tap = (a) =>
  spawnSync('tap', a, { stdio: 'inherit', shell: process.platform === 'win32' }).status ?? 1;

// a path that exists, not any bare word: `-R tap` passes "tap" as the value of an option
const files = args.filter((a) => !a.startsWith('-') && existsSync(a));
if (files.length > 0) process.exit(tap(args));

// tap's `exclude` (package.json) keeps test/timing out of the first phase; named files still run
const first = tap(args);
// without coverage: V8's block coverage slows the measured code and the measuring alike
const second = tap([...args, '--jobs=1', '--disable-coverage', 'test/timing']);
process.exit(first || second);
