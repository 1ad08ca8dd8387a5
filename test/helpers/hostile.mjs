/**
 * Hostile AdmissionReview bodies (issue 14): objects anyone allowed to create a Deployment or a
 * ConfigMap can apply, shaped to hit the superlinear paths the webhook used to have. Plain ESM so
 * both the tests and `npm run bench` (scripts/bench.mjs, no TypeScript loader) use the same ones.
 * Each generator returns the AdmissionReview object; `bytes(review)` is its size on the wire.
 */
import { wrap } from '../../scripts/review.mjs';

const RUNNER = 'gitlab/gitlab-runner:v17.11.0';
/** Each hostile object also carries a real mistake (GRA201, a registration token in the auth-token slot) at its very end: the only correct answers are a deny for that rule or a deny because the object was not checked. */
export const REGISTRATION_TOKEN = 'GR1348941abcdefghijklmnopqrst';
const BAD_ENV = [{ name: 'CI_SERVER_TOKEN', value: REGISTRATION_TOKEN }];

function deployment(name, spec) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'ci' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec },
    },
  };
}

/**
 * Init containers that each copy a config into the runner's config path, and many runner
 * containers reading it: provenance used to be computed per (runner, init container) pair, three
 * times per review. `inits`/`runs` 2,500/1,200 is the 778 KB case of the issue.
 */
export function copyStorm(inits = 2500, runs = 1200) {
  const initContainers = [];
  for (let i = 0; i < inits; i++) {
    initContainers.push({
      name: `c${i}`,
      image: 'busybox',
      command: ['sh', '-c', 'cp /src/config.toml /etc/gitlab-runner/config.toml'],
      volumeMounts: [
        { name: 'src', mountPath: '/src' },
        { name: 'cfg', mountPath: '/etc/gitlab-runner' },
      ],
    });
  }
  const containers = [];
  for (let i = 0; i < runs; i++) {
    containers.push({
      name: `r${i}`,
      image: RUNNER,
      args: ['run'],
      volumeMounts: [{ name: 'cfg', mountPath: '/etc/gitlab-runner' }],
      ...(i === runs - 1 ? { env: BAD_ENV } : {}),
    });
  }
  const volumes = [
    { name: 'src', configMap: { name: 'runner-config' } },
    { name: 'cfg', emptyDir: {} },
  ];
  return wrap(
    deployment('copy-storm', { initContainers, containers, volumes }),
    'Deployment',
    'apps',
  );
}

/**
 * One init container whose `cp` has `operands` sources and `mounts` volumeMounts: each operand
 * used to walk every mount. 16,000/10,000 is the 629 KB case.
 */
export function wideCopy(operands = 16000, mounts = 10000) {
  const srcs = [];
  for (let i = 0; i < operands; i++) srcs.push(`/m${i % mounts}/f${i}`);
  const volumeMounts = [];
  for (let i = 0; i < mounts; i++) volumeMounts.push({ name: 'v', mountPath: `/m${i}` });
  volumeMounts.push({ name: 'cfg', mountPath: '/etc/gitlab-runner' });
  const spec = {
    initContainers: [
      {
        name: 'copy',
        image: 'busybox',
        command: ['cp', ...srcs, '/etc/gitlab-runner/'],
        volumeMounts,
      },
    ],
    containers: [
      {
        name: 'runner',
        image: RUNNER,
        args: ['run'],
        env: BAD_ENV,
        volumeMounts: [{ name: 'cfg', mountPath: '/etc/gitlab-runner' }],
      },
    ],
    volumes: [
      { name: 'v', configMap: { name: 'runner-config' } },
      { name: 'cfg', emptyDir: {} },
    ],
  };
  return wrap(deployment('wide-copy', spec), 'Deployment', 'apps');
}

/** The same shapes scaled to a ~3.1 MB body: above what etcd stores, within what the apiserver accepts. */
export function huge() {
  return copyStorm(9500, 4800);
}

/**
 * A ConfigMap whose config.toml holds one inline array of `elements` integers (about 1 MiB of
 * data at the default): the TOML reader's cost per element, not the webhook's code.
 */
export function bigArrayConfigMap(elements = 500000) {
  const toml = `concurrent = 1\n[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  x = [${'1,'.repeat(elements - 1)}1]\n  executor = "shell"\n  token = "${REGISTRATION_TOKEN}"\n`;
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'big-array', namespace: 'ci' },
    data: { 'config.toml': toml },
  };
  return wrap(cm, 'ConfigMap');
}

/**
 * A small runner Deployment with the same mistake, padded with an annotation to `bytes`: padding
 * must move it to a worker thread, never around the rules.
 */
export function padded(bytes = 64 * 1024) {
  const d = deployment('padded', {
    containers: [{ name: 'runner', image: RUNNER, args: ['run'], env: BAD_ENV }],
  });
  d.metadata.annotations = { pad: 'x'.repeat(bytes) };
  return wrap(d, 'Deployment', 'apps');
}

/**
 * A ConfigMap body carrying a 1.5M-element JSON array beside a runner config (about 3 MiB on
 * the wire): the JSON parse itself and any walk over unknown fields.
 */
export function bigJsonArray(elements = 1500000) {
  const toml =
    'concurrent = 1\n[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  token = "' +
    REGISTRATION_TOKEN +
    '"\n  executor = "shell"\n';
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'big-json', namespace: 'ci' },
    pad: new Array(elements).fill(0),
    data: { 'config.toml': toml },
  };
  return wrap(cm, 'ConfigMap');
}

/**
 * A ConfigMap body padded with `n` copies of an empty object or array (3-4 MB): the most values
 * per byte JSON allows, the worst case for the parse's memory rather than its time.
 */
export function dense(value, n) {
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'dense', namespace: 'ci' },
    pad: new Array(n).fill(value),
    data: {
      'config.toml':
        '[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  token = "' +
        REGISTRATION_TOKEN +
        '"\n  executor = "shell"\n',
    },
  };
  return wrap(cm, 'ConfigMap');
}

export const HOSTILE = [
  { name: 'copy storm (2,500 init cp + 1,200 runners)', make: () => copyStorm() },
  { name: 'wide cp (16,000 operands, 10,000 mounts)', make: () => wideCopy() },
  { name: '3.1 MB copy storm', make: () => huge() },
  { name: '1 MiB config.toml with a 500k-element array', make: () => bigArrayConfigMap() },
  { name: '3 MiB body with a 1.5M-element array', make: () => bigJsonArray() },
  { name: '3 MB of a million empty objects', make: () => dense({}, 1000000) },
  { name: '4 MB of 1.4 million empty arrays', make: () => dense([], 1400000) },
];

export function bytes(review) {
  return Buffer.byteLength(JSON.stringify(review));
}
