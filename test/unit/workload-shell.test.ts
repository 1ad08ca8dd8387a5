import t from 'tap';
import {
  parseScript,
  shellInvocation,
  stripWrappers,
  variableOf,
} from '../../src/workload/shell.js';

const words = (script: string): string[][] =>
  parseScript(script).map((c) => c.words.map((w) => w.text));

t.test('line continuations join one command', async (t) => {
  const s =
    'gitlab-runner register \\\n  --non-interactive \\\n  --url https://x/ \\\n  --registration-token ${RUNNER_TOKEN}\n';
  t.same(words(s), [
    [
      'gitlab-runner',
      'register',
      '--non-interactive',
      '--url',
      'https://x/',
      '--registration-token',
      '${RUNNER_TOKEN}',
    ],
  ]);
});

t.test('&&, ||, ;, | and & separate commands', async (t) => {
  t.same(words('a 1 && b 2 || c; d | e & f'), [['a', '1'], ['b', '2'], ['c'], ['d'], ['e'], ['f']]);
  t.same(
    parseScript('a && b').map((c) => c.end),
    ['&&', ''],
  );
});

t.test('quotes: single literal, double keeps expansions, escapes', async (t) => {
  t.same(words(`x '$(A) b' "c \\"d\\" \${E}" f\\ g`), [['x', '$(A) b', 'c "d" ${E}', 'f g']]);
  const q = parseScript(`x 'a' b`)[0]!.words;
  t.equal(q[0]!.quoted, false);
  t.equal(q[1]!.quoted, true);
});

t.test(
  'command substitution stays one word, even with spaces, pipes and quotes inside',
  async (t) => {
    const s = `gitlab-ci-multi-runner unregister -t "$(gitlab-ci-multi-runner list 2>&1 | tail -n1 | awk '{print $4}' | cut -d'=' -f2)" -n \${RUNNER_NAME}`;
    const w = words(s);
    t.equal(w.length, 1);
    t.equal(
      w[0]![3],
      `$(gitlab-ci-multi-runner list 2>&1 | tail -n1 | awk '{print $4}' | cut -d'=' -f2)`,
    );
    t.equal(w[0]![5], '${RUNNER_NAME}');
  },
);

t.test('comments, keywords and function bodies', async (t) => {
  const s =
    '#!/bin/bash\n# register\nif [ -f x ]; then\n  gitlab-runner verify # check\nfi\nf() {\n  gitlab-runner unregister --all-runners\n}\n';
  const w = words(s);
  t.ok(w.some((c) => c[0] === 'gitlab-runner' && c[1] === 'verify'));
  t.ok(
    w.some((c) => c[0] === 'gitlab-runner' && c[1] === 'unregister' && c[2] === '--all-runners'),
  );
  t.notOk(
    w.some((c) => c.includes('#')),
    'comments dropped',
  );
  t.notOk(
    w.some((c) => c[0] === 'then' || c[0] === 'fi' || c[0] === '{'),
    'keywords dropped',
  );
});

t.test('redirections are not words; fds dropped', async (t) => {
  const [c] = parseScript(
    'cat /configmaps/config.toml > /etc/gitlab-runner/config.toml 2>/dev/null',
  );
  t.same(
    c!.words.map((w) => w.text),
    ['cat', '/configmaps/config.toml'],
  );
  t.same(c!.redirects, [
    { op: '>', target: '/etc/gitlab-runner/config.toml' },
    { op: '>', target: '/dev/null' },
  ]);
  const [d] = parseScript('envsubst < /in/a.toml >> /out/b.toml');
  t.same(d!.redirects, [
    { op: '<', target: '/in/a.toml' },
    { op: '>>', target: '/out/b.toml' },
  ]);
});

t.test('here-documents are skipped', async (t) => {
  const s =
    'cat > /etc/gitlab-runner/config.toml <<\'EOF\'\n[[runners]]\n  token = "x"\nEOF\ngitlab-runner run\n';
  const w = words(s);
  t.same(w, [['cat'], ['gitlab-runner', 'run']]);
});

t.test('assignments before a command are split off', async (t) => {
  const [c] = parseScript('CONFIG_FILE=/tmp/c.toml gitlab-runner run');
  t.same(c!.assignments, [{ name: 'CONFIG_FILE', value: '/tmp/c.toml' }]);
  t.same(
    c!.words.map((w) => w.text),
    ['gitlab-runner', 'run'],
  );
});

t.test('unbalanced quotes do not throw', async (t) => {
  t.doesNotThrow(() => parseScript('echo "abc'));
  t.doesNotThrow(() => parseScript("echo 'abc"));
  t.doesNotThrow(() => parseScript('echo $(abc'));
});

t.test('variableOf accepts only a whole single reference', async (t) => {
  t.equal(variableOf('$X'), 'X');
  t.equal(variableOf('${X_1}'), 'X_1');
  t.equal(variableOf('$(GITLAB_CI_TOKEN)'), 'GITLAB_CI_TOKEN');
  t.equal(variableOf('$X$Y'), undefined);
  t.equal(variableOf('pre$X'), undefined);
  t.equal(variableOf('$(cat /x)'), undefined);
  t.equal(variableOf('GR1348941abc'), undefined);
});

t.test('shellInvocation', async (t) => {
  t.same(shellInvocation(['sh', '-c', 'x']), { script: 'x' });
  t.same(shellInvocation(['/bin/bash', '-ec', 'x']), { script: 'x' });
  t.same(shellInvocation(['bash', '-e', '-o', 'pipefail', '-c', 'x']), { script: 'x' });
  t.same(shellInvocation(['busybox', 'sh', '-c', 'x']), { script: 'x' });
  t.same(shellInvocation(['/bin/bash', '/scripts/entrypoint']), { file: '/scripts/entrypoint' });
  t.equal(shellInvocation(['gitlab-runner', 'run']), undefined);
});

t.test('stripWrappers', async (t) => {
  t.same(stripWrappers(['exec', 'gitlab-runner', 'run']), ['gitlab-runner', 'run']);
  t.same(stripWrappers(['/usr/bin/dumb-init', '--', 'gitlab-runner', 'run']), [
    'gitlab-runner',
    'run',
  ]);
  t.same(stripWrappers(['env', 'A=1', 'B=2', 'gitlab-runner', 'run']), ['gitlab-runner', 'run']);
  t.same(stripWrappers(['sudo', '-u', 'gitlab-runner', 'gitlab-runner', 'run']), [
    'gitlab-runner',
    'run',
  ]);
  t.same(stripWrappers(['gitlab-runner', 'run']), ['gitlab-runner', 'run']);
});
