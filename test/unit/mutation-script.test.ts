import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { preStopCommand, registerScript } from '../../src/mutation/script.js';
import { splitConfig } from '../../src/mutation/split.js';
import { fixturesDir, readYamlDocs, SEED_REG_TOKEN } from '../helpers/fixtures.js';

/**
 * The injected init step, run for real by /bin/sh against a stub `gitlab-runner` that behaves
 * like `register` as far as files go (facts §2: loads --config, requires exactly one
 * [[runners]] in --template-config, appends a runner with a token, writes --config). Proves the
 * global part of the user's config survives, that each template holds exactly one runner, and
 * that the shell split equals its TypeScript mirror (split.ts).
 */

const haveSh =
  existsSync('/bin/sh') &&
  spawnSync('/bin/sh', ['-c', 'command -v sed && command -v grep && command -v tr'], {
    stdio: 'ignore',
  }).status === 0;
const SKIP = haveSh ? false : 'no POSIX /bin/sh with sed, grep and tr';

const template = readYamlDocs(path.join(fixturesDir, 'seed', 'configmap-template.yaml'))[0].data[
  'config.toml'
] as string;

// The stub keeps every template it was given, and fails on demand (FAIL_AT=<n>).
const STUB = `#!/bin/sh
set -eu
cmd=$1; shift
printf '%s\\n' "$cmd $*" >> "$LOG/calls"
if [ "$cmd" = unregister ]; then exit 0; fi
cfg=; tpl=; url=; name=
while [ $# -gt 0 ]; do
  case "$1" in
    --config) cfg=$2; shift ;;
    --template-config) tpl=$2; shift ;;
    --url) url=$2; shift ;;
    --name) name=$2; shift ;;
  esac
  shift
done
count=$(grep -c '^[[:space:]]*\\[\\[runners\\]\\]' "$tpl" || true)
[ "$count" = 1 ] || { echo "configuration template must contain exactly one [[runners]] entry" >&2; exit 1; }
n=$(ls "$LOG" | grep -c '^tpl-' || true)
cp "$tpl" "$LOG/tpl-$((n + 1)).toml"
if [ -n "\${FAIL_AT:-}" ] && [ "$((n + 1))" = "$FAIL_AT" ]; then echo "register failed" >&2; exit 1; fi
tok=\${CI_SERVER_TOKEN:-}
kind=auth
if [ -z "$tok" ]; then kind=registration; fi
env | grep -E '^(CI_SERVER_TOKEN|REGISTRATION_TOKEN)=' | sed 's/=.*//' | sort | tr '\\n' ' ' >> "$LOG/envnames"; echo >> "$LOG/envnames"
printf '\\n[[runners]]\\n  name = "%s"\\n  url = "%s"\\n  token = "glrt-%s"\\n' "$name" "$url" "$kind" >> "$cfg"
`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  dir: string;
  config: string;
  log: string;
}

function setup(
  t: Test,
  text: string,
): { dir: string; tpl: string; config: string; log: string; bin: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gra-script-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'log');
  mkdirSync(bin);
  mkdirSync(log);
  mkdirSync(path.join(dir, 'etc'));
  mkdirSync(path.join(dir, 'cm'));
  writeFileSync(path.join(bin, 'gitlab-runner'), STUB);
  chmodSync(path.join(bin, 'gitlab-runner'), 0o755);
  const tpl = path.join(dir, 'cm', 'config.toml');
  writeFileSync(tpl, text);
  return { dir, tpl, config: path.join(dir, 'etc', 'config.toml'), log, bin };
}

function run(s: ReturnType<typeof setup>, env: Record<string, string>): Run {
  const script = registerScript({
    configPath: s.config,
    templatePath: s.tpl,
    tokenSourceText: 'Secret gitlab-runner-tokens',
  });
  const r = spawnSync('/bin/sh', ['-c', script], {
    env: {
      PATH: `${s.bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      LOG: s.log,
      HOSTNAME: 'pod-1',
      ...env,
    },
    encoding: 'utf8',
  });
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    dir: s.dir,
    config: s.config,
    log: s.log,
  };
}

t.test(
  'seed template + registration token: globals kept, one template per runner, idempotent',
  { skip: SKIP },
  async (t) => {
    const s = setup(t, template);
    const r = run(s, { REGISTRATION_TOKEN: SEED_REG_TOKEN, CI_SERVER_TOKEN: '' });
    t.equal(r.status, 0, r.stderr);
    const cfg = readFileSync(s.config, 'utf8');
    t.match(cfg, /^concurrent = 10$/m, 'concurrent = 10 survives into the config run reads');
    t.match(cfg, /^check_interval = 3$/m);
    t.match(cfg, /^log_level = "info"$/m);
    t.match(cfg, /name = "ois-cfa-runner"/, 'the runner name comes from the template');
    t.match(cfg, /url = "https:\/\/gitlab.example.com"/);
    const tpl1 = readFileSync(path.join(s.log, 'tpl-1.toml'), 'utf8');
    t.equal(tpl1, splitConfig(template).runners[0], 'the shell split equals the TypeScript mirror');
    t.notMatch(tpl1, /concurrent/);
    t.notOk(
      readFileSync(path.join(s.log, 'calls'), 'utf8').includes(SEED_REG_TOKEN),
      'the token is not on the command line',
    );
    t.equal(
      readFileSync(path.join(s.log, 'envnames'), 'utf8').trim(),
      'REGISTRATION_TOKEN',
      'only the registration slot is set for register',
    );
    t.ok(
      existsSync(path.join(s.dir, 'etc', '.gra-unregister-on-stop')),
      'registration flow: preStop will unregister',
    );
    t.notOk(existsSync(path.join(s.dir, 'etc', '.gra-split')), 'scratch files removed');

    const again = run(s, { REGISTRATION_TOKEN: SEED_REG_TOKEN });
    t.equal(again.status, 0);
    t.match(again.stdout, /registered already/);
    t.equal(
      readdirSync(s.log).filter((f) => f.startsWith('tpl-')).length,
      1,
      'a re-run of the init step in the same pod registers nothing',
    );

    // the preStop hook the runner container gets
    const ps = preStopCommand(s.config);
    const stop = spawnSync(ps[0]!, ps.slice(1), {
      env: { PATH: `${s.bin}:${process.env.PATH}`, LOG: s.log },
      encoding: 'utf8',
    });
    t.equal(stop.status, 0);
    t.match(
      readFileSync(path.join(s.log, 'calls'), 'utf8'),
      new RegExp(`unregister --all-runners --config ${s.config.replace(/[.]/g, '\\.')}`),
    );
  },
);

t.test('authentication token wins; no unregister marker', { skip: SKIP }, async (t) => {
  const s = setup(t, template);
  const r = run(s, {
    REGISTRATION_TOKEN: SEED_REG_TOKEN,
    CI_SERVER_TOKEN: 'glrt-Tq3vZ8xYp2LmN6bW4cRs',
  });
  t.equal(r.status, 0, r.stderr);
  t.equal(
    readFileSync(path.join(s.log, 'envnames'), 'utf8').trim(),
    'CI_SERVER_TOKEN',
    'REGISTRATION_TOKEN unset for register',
  );
  t.notOk(existsSync(path.join(s.dir, 'etc', '.gra-unregister-on-stop')));
  const ps = preStopCommand(s.config);
  spawnSync(ps[0]!, ps.slice(1), { env: { PATH: `${s.bin}:${process.env.PATH}`, LOG: s.log } });
  t.notMatch(
    readFileSync(path.join(s.log, 'calls'), 'utf8'),
    /unregister/,
    'preStop does nothing for an authentication token',
  );
});

t.test(
  'several runners, global tables after runners, CRLF-free sub-tables',
  { skip: SKIP },
  async (t) => {
    const text = `concurrent = 4
listen_address = ":9252"

[[runners]]
  name = "one"
  url = "https://a.example.com"
  executor = "kubernetes"
  [runners.kubernetes]
    namespace = "ci"
  [[runners.kubernetes.volumes.empty_dir]]
    name = "cache"
    mount_path = "/cache"

[session_server]
  session_timeout = 1800

[[runners]]
  name = "two"
  url = "https://b.example.com"
  executor = "shell"
  pre_build_script = """
[ -f /x ] && echo ok
"""
`;
    const s = setup(t, text);
    const r = run(s, { REGISTRATION_TOKEN: SEED_REG_TOKEN });
    t.equal(r.status, 0, r.stderr);
    const mirror = splitConfig(text);
    t.equal(mirror.runners.length, 2);
    t.equal(readFileSync(path.join(s.log, 'tpl-1.toml'), 'utf8'), mirror.runners[0]);
    t.equal(readFileSync(path.join(s.log, 'tpl-2.toml'), 'utf8'), mirror.runners[1]);
    const cfg = readFileSync(s.config, 'utf8');
    t.match(cfg, /^concurrent = 4$/m);
    t.match(
      cfg,
      /\[session_server\]\n {2}session_timeout = 1800/,
      'a global table after a runner goes to the global part',
    );
    t.match(cfg, /name = "one"[\s\S]*name = "two"/);
  },
);

t.test(
  'a failed registration unregisters what this attempt registered, and can be retried',
  { skip: SKIP },
  async (t) => {
    const two = `${template}\n[[runners]]\n  name = "second"\n  url = "https://gitlab.example.com"\n  executor = "kubernetes"\n`;
    const s = setup(t, two);
    const r = run(s, { REGISTRATION_TOKEN: SEED_REG_TOKEN, FAIL_AT: '2' });
    t.not(r.status, 0);
    t.match(readFileSync(path.join(s.log, 'calls'), 'utf8'), /unregister --all-runners/);
    t.notOk(existsSync(path.join(s.dir, 'etc', '.gra-registered')), 'not marked done');
    const retry = run(s, { REGISTRATION_TOKEN: SEED_REG_TOKEN });
    t.equal(retry.status, 0, retry.stderr);
    const cfg = readFileSync(s.config, 'utf8');
    t.equal(
      (cfg.match(/\[\[runners\]\]/g) ?? []).length,
      2,
      'the retry starts from the global part, no duplicate runners',
    );
  },
);

t.test('no token: a clear error, nothing registered', { skip: SKIP }, async (t) => {
  const s = setup(t, template);
  const r = run(s, { REGISTRATION_TOKEN: '', CI_SERVER_TOKEN: '' });
  t.not(r.status, 0);
  t.match(r.stderr, /no token: Secret gitlab-runner-tokens/);
  t.notOk(existsSync(path.join(s.log, 'calls')));
});

t.test('the script parses as POSIX sh (sh -n)', { skip: SKIP }, async (t) => {
  const script = registerScript({
    configPath: '/etc/gitlab-runner/config.toml',
    templatePath: "/configmaps/it's.toml",
    tokenSourceText: 'Secret x',
  });
  t.doesNotThrow(() => execFileSync('/bin/sh', ['-n', '-c', script]));
});

t.test(
  'hostile config file names run no command (quotes, newlines, $(), backticks, spaces)',
  { skip: SKIP },
  async (t) => {
    const names = [
      'c";touch pwned;echo ".toml',
      "c';touch pwned;echo '.toml",
      'c\ntouch pwned\n.toml',
      'c\r\ntouch pwned #.toml',
      'c$(touch pwned).toml',
      'c`touch pwned`.toml',
      'with space $HOME ${PATH} .toml',
      '-n \\ \\\\ %s %n.toml',
    ];
    for (const name of names) {
      const s = setup(t, template);
      // the template and the config carry the hostile name, as items.path and run --config would give them
      const tpl = path.join(s.dir, 'cm', name);
      writeFileSync(tpl, template);
      const config = path.join(s.dir, 'etc', name);
      const script = registerScript({
        configPath: config,
        templatePath: tpl,
        tokenSourceText: 'Secret "x";touch pwned',
      });
      t.equal(
        spawnSync('/bin/sh', ['-n', '-c', script]).status,
        0,
        `${JSON.stringify(name)}: parses`,
      );
      const r = spawnSync('/bin/sh', ['-c', script], {
        cwd: s.dir,
        env: {
          PATH: `${s.bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          LOG: s.log,
          HOSTNAME: 'pod-1',
          REGISTRATION_TOKEN: SEED_REG_TOKEN,
        },
        encoding: 'utf8',
      });
      t.equal(r.status, 0, `${JSON.stringify(name)}: registers (${r.stderr})`);
      t.notOk(
        existsSync(path.join(s.dir, 'pwned')),
        `${JSON.stringify(name)}: no command from the name ran`,
      );
      t.ok(
        existsSync(config),
        `${JSON.stringify(name)}: the config is written under its exact name`,
      );
      t.ok(
        readFileSync(path.join(s.log, 'calls'), 'utf8').includes(`--config ${config}`),
        `${JSON.stringify(name)}: register got the exact path`,
      );
      t.ok(
        r.stdout.includes(`registered into ${config}`),
        `${JSON.stringify(name)}: messages print the name as data`,
      );
      const stop = preStopCommand(config);
      const ps = spawnSync(stop[0]!, stop.slice(1), {
        cwd: s.dir,
        env: { PATH: `${s.bin}:${process.env.PATH}`, LOG: s.log },
        encoding: 'utf8',
      });
      t.equal(ps.status, 0);
      t.notOk(
        existsSync(path.join(s.dir, 'pwned')),
        `${JSON.stringify(name)}: preStop runs no command from the name`,
      );
    }
  },
);
