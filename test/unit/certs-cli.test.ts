import t from 'tap';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCerts, HELP } from '../../src/cli/certs.js';
import { checkPair } from '../../src/certs/validate.js';

function io() {
  const o = { out: '', err: '' };
  return {
    o,
    io: { stdout: (s: string) => void (o.out += s), stderr: (s: string) => void (o.err += s) },
  };
}

t.test('writes the four files, prints only the caBundle on stdout', async (t) => {
  const dir = path.join(await mkdtemp(path.join(tmpdir(), 'gra-cli-')), 'out');
  const { o, io: x } = io();
  const code = await runCerts(
    [
      '--service',
      'gra',
      '--namespace',
      'ci',
      '--out',
      dir,
      '--dns',
      'gra.example.test',
      '--ip',
      '127.0.0.1',
    ],
    x,
  );
  t.equal(code, 0, o.err);
  const [ca, cert, key] = await Promise.all(
    ['ca.crt', 'tls.crt', 'tls.key'].map((f) => readFile(path.join(dir, f), 'utf8')),
  );
  t.equal(o.out, Buffer.from(ca!).toString('base64') + '\n');
  t.doesNotThrow(() =>
    checkPair(
      { cert: cert!, key: key! },
      { ca: ca!, hosts: ['gra.ci.svc', 'gra.example.test', '127.0.0.1'] },
    ),
  );
  for (const f of ['ca.key', 'tls.key'])
    t.equal((await stat(path.join(dir, f))).mode & 0o777, 0o600, `${f} 0600`);
  t.match(o.err, /gra\.ci\.svc\.cluster\.local/);
});

t.test('refuses to overwrite without --force, overwrites with it', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gra-cli-'));
  await writeFile(path.join(dir, 'tls.key'), 'mine', { mode: 0o644 });
  const a = io();
  t.equal(await runCerts(['-s', 'gra', '-n', 'ci', '-o', dir], a.io), 1);
  t.equal(
    a.o.err,
    `certs: refusing to overwrite tls.key in ${dir} (pass --force to replace them)\n`,
  );
  t.equal(a.o.out, '');
  t.equal(await readFile(path.join(dir, 'tls.key'), 'utf8'), 'mine');
  const b = io();
  t.equal(await runCerts(['-s', 'gra', '-n', 'ci', '-o', dir, '--force'], b.io), 0);
  t.match(await readFile(path.join(dir, 'tls.key'), 'utf8'), /BEGIN PRIVATE KEY/);
  t.equal((await stat(path.join(dir, 'tls.key'))).mode & 0o777, 0o600, 'mode fixed on overwrite');
});

t.test('usage errors exit 2 with every problem listed', async (t) => {
  const a = io();
  t.equal(await runCerts(['--namespace', 'Bad_NS', '--ip', 'nope', '--dns', 'a..b'], a.io), 2);
  t.match(a.o.err, /--service is required/);
  t.match(a.o.err, /--namespace "Bad_NS" is not a valid namespace/);
  t.match(a.o.err, /--ip "nope" is not an IP address/);
  t.match(a.o.err, /--dns "a\.\.b" is not a valid DNS name/);
  const b = io();
  t.equal(await runCerts(['--bogus'], b.io), 2);
  t.match(b.o.err, /Unknown option '--bogus'/);
});

t.test('--help prints usage with an example on stdout', async (t) => {
  const a = io();
  t.equal(await runCerts(['--help'], a.io), 0);
  t.equal(a.o.out, HELP);
  t.match(HELP, /Example:\n\s+CA_BUNDLE=\$\(gitlab-runner-admission certs -s /);
});
