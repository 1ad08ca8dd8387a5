import t from 'tap';
import path from 'node:path';
import { readdirSync } from 'node:fs';
import { runCheck, type CheckIo } from '../../src/cli/check.js';
import { review, startTestServer } from '../helpers/server.js';
import { fixturesDir, readYamlDocs, SEED_AUTH_TOKEN, SEED_REG_TOKEN } from '../helpers/fixtures.js';

/**
 * Issue 7 "done when": `check` on the seed fixtures exits 1 and prints the same rule ids and
 * message text the webhook returns for the same objects. Both sides run for real: the webhook
 * over HTTPS on 127.0.0.1, the CLI in-process on the files.
 */

const seedDir = path.join(fixturesDir, 'seed');
const srv = await startTestServer();
t.teardown(() => srv.close());

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = { out: '', err: '' };
  const io: CheckIo = {
    stdout: (s) => void (c.out += s),
    stderr: (s) => void (c.err += s),
    readStdin: async () => Buffer.alloc(0),
    isTTY: false,
    env: {},
  };
  return { code: await runCheck(argv, io), ...c };
}

/** `[GRA001] where: message\n  fix: …` blocks of a formatDenial message (the header line dropped). */
function denialBlocks(message: string): { ruleId: string; body: string }[] {
  const blocks: { ruleId: string; body: string }[] = [];
  for (const line of message.split('\n').slice(1)) {
    const m = /^\[(GRA\d{3})\] (.*)$/.exec(line);
    if (m) blocks.push({ ruleId: m[1]!, body: m[2]! });
    else if (blocks.length > 0) blocks[blocks.length - 1]!.body += `\n${line}`;
  }
  return blocks;
}

t.test(
  'seed: every webhook deny finding appears verbatim in the CLI output, every warning rule id too',
  async (t) => {
    const all = await cli([seedDir]);
    t.equal(all.code, 1, 'check seed/ exits 1');
    t.notMatch(all.out, SEED_REG_TOKEN);
    t.notMatch(all.out, SEED_AUTH_TOKEN);

    let denied = 0;
    for (const name of readdirSync(seedDir)
      .filter((f) => f.endsWith('.yaml'))
      .sort()) {
      const file = path.join(seedDir, name);
      const one = await cli([file]);
      for (const obj of readYamlDocs(file)) {
        const res = await srv.post('/validate', review(obj));
        t.equal(res.status, 200);
        const r = res.json.response;
        if (!r.allowed) {
          denied++;
          t.equal(one.code, 1, `${name}: the webhook denies, the CLI exits 1`);
          const blocks = denialBlocks(r.status.message);
          t.ok(blocks.length > 0, `${name}: denial has findings`);
          for (const b of blocks) {
            // CLI line: `file:line: deny GRA001 ConfigMap ns/name: <where>: <message>` + `  fix: …`
            t.ok(
              one.out.includes(` deny ${b.ruleId} `),
              `${name}: ${b.ruleId} denied by the CLI too`,
            );
            t.ok(
              one.out.includes(`: ${b.body}`),
              `${name}: ${b.ruleId} text identical to the webhook's`,
            );
            t.ok(all.out.includes(`: ${b.body}`), `${name}: ${b.ruleId} also in the directory run`);
          }
        } else {
          t.equal(one.code, 0, `${name}: the webhook allows, the CLI exits 0`);
        }
        for (const w of r.warnings ?? []) {
          const id = /^(GRA\d{3}) /.exec(w)?.[1];
          t.ok(id, `warning has a rule id: ${w}`);
          t.match(
            one.out,
            new RegExp(`: (warn|info) ${id} `),
            `${name}: warning ${id} reported by the CLI`,
          );
        }
      }
    }
    t.ok(
      denied >= 2,
      'the seed has denied objects (ConfigMap with a registration token, swapped Secret)',
    );
  },
);
