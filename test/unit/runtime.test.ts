import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MALLOC_ENV, NODE_FLAGS } from '../../src/server/runtime.js';
import { repoRoot } from '../helpers/fixtures.js';

// The image, `npm start` and the measuring tests must start the webhook the same way, or the
// memory and latency figures are of a process nobody runs.
const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
const start = (
  JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts.start!;

t.test('the image sets the malloc environment and the V8 flags', async (t) => {
  for (const [k, v] of Object.entries(MALLOC_ENV))
    t.match(runtimeStage, new RegExp(`^ENV .*\\b${k}=${v}\\b`, 'm'), `${k}=${v}`);
  t.match(runtimeStage, new RegExp(`^ENV NODE_OPTIONS="${NODE_FLAGS.join(' ')}"$`, 'm'));
});

t.test('npm start sets the same', async (t) => {
  for (const [k, v] of Object.entries(MALLOC_ENV)) t.ok(start.includes(`${k}=${v} `), `${k}=${v}`);
  t.ok(start.includes(`node ${NODE_FLAGS.join(' ')} dist/cli/main.js serve`), start);
});
