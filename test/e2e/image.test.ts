/**
 * The container image without a Docker engine (none on these machines): read the Dockerfile,
 * check it has the steps below, then replay them in a temp dir — build stage (compile with the
 * dev dependencies), deps stage (`npm ci --omit=dev`, run exactly as the Dockerfile's RUN line
 * says), runtime stage (node_modules + dist + package.json, started with the ENTRYPOINT) — and
 * probe the started server. This proves the production dependencies are enough to serve a
 * review, and that the process writes nothing into its app directory (the chart mounts the
 * root filesystem read-only).
 *
 * Needs the npm registry (or a warm npm cache) for `npm ci`; nothing else leaves 127.0.0.1.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';

// npm ci plus a first start (RSA key generation) on a 2-core CI machine can take minutes; the
// runner's per-file timeout (package.json tap.timeout) is raised for this file only.
t.setTimeout(600_000);

const repo = path.resolve(import.meta.dirname, '../..');
const dockerfile = fs.readFileSync(path.join(repo, 'Dockerfile'), 'utf8');
const dockerignore = fs.readFileSync(path.join(repo, '.dockerignore'), 'utf8');

interface Stage {
  name: string;
  from: string;
  lines: string[];
}

/** Dockerfile instructions grouped by stage (continuation lines joined, comments dropped). */
function stages(text: string): { args: Record<string, string>; stages: Stage[] } {
  const joined = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const out: Stage[] = [];
  for (const line of joined) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) {
      const image = from[1]!.replace(/^\$\{(\w+)\}$/, (_, a: string) => args[a] ?? '');
      out.push({ name: from[2] ?? String(out.length), from: image, lines: [] });
      continue;
    }
    const arg = /^ARG\s+(\w+)=(\S+)$/i.exec(line);
    if (arg && out.length === 0) args[arg[1]!] = arg[2]!;
    out.at(-1)?.lines.push(line);
  }
  return { args, stages: out };
}

const parsed = stages(dockerfile);
const stage = (name: string) => parsed.stages.find((s) => s.name === name);
const runLines = (s: Stage | undefined) =>
  (s?.lines ?? []).filter((l) => /^RUN\s/.test(l)).map((l) => l.replace(/^RUN\s+/, ''));

t.test('Dockerfile has the steps this test replays', async (t) => {
  t.match(
    parsed.args.NODE_IMAGE ?? '',
    /^node:24\.\d+\.\d+-(bookworm-slim|alpine)@sha256:[0-9a-f]{64}$/,
    'small Node 24 LTS base, pinned by version and digest',
  );
  const build = stage('build');
  const deps = stage('deps');
  const runtime = parsed.stages.at(-1);
  t.ok(build && deps && runtime, 'stages build, deps and a final runtime stage');
  t.ok(
    runLines(build).some((l) => /^npm ci\b/.test(l) && !l.includes('--omit=dev')),
    'build: npm ci with dev dependencies',
  );
  t.ok(runLines(build).includes('npm run build'), 'build: npm run build');
  t.ok(
    runLines(deps).some((l) => /^npm ci\b.*--omit=dev/.test(l)),
    'deps: npm ci --omit=dev',
  );
  t.equal(runtime!.name, 'runtime');
  t.same(
    runLines(runtime),
    [],
    'runtime stage runs nothing: no shell needed, base swappable for distroless',
  );
  t.ok(
    runtime!.lines.includes('COPY --from=deps /app/node_modules ./node_modules'),
    'runtime: production node_modules',
  );
  t.ok(runtime!.lines.includes('COPY --from=build /app/dist ./dist'), 'runtime: compiled dist/');
  t.ok(runtime!.lines.includes('COPY package.json ./'), 'runtime: package.json ("type": "module")');
  const user = runtime!.lines.filter((l) => /^USER\s/.test(l));
  t.same(user, ['USER 65532:65532'], 'one numeric non-root user');
  t.ok(
    runtime!.lines.includes('ENTRYPOINT ["node", "dist/cli/main.js", "serve"]'),
    'exec-form ENTRYPOINT runs the server',
  );
  t.ok(runtime!.lines.includes('EXPOSE 8443 9090'), 'webhook and metrics ports');
  // The chart and the image must agree on the user.
  const values = fs.readFileSync(
    path.join(repo, 'charts/gitlab-runner-admission/values.yaml'),
    'utf8',
  );
  t.match(values, /runAsUser: 65532/);

  // Every file the build COPYs from the context is let through by .dockerignore, and exists.
  const ignoreLines = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  t.equal(
    ignoreLines[0],
    '*',
    '.dockerignore starts by excluding everything (node_modules, certs/, .git, ...)',
  );
  const allowed = ignoreLines
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/(\*\*)?$/, ''));
  const contextCopies = parsed.stages
    .flatMap((s) => s.lines)
    .filter((l) => /^COPY\s/.test(l) && !l.includes('--from='));
  t.ok(contextCopies.length >= 3);
  for (const line of contextCopies) {
    const sources = line
      .replace(/^COPY\s+/, '')
      .split(/\s+/)
      .slice(0, -1);
    for (const src of sources) {
      t.ok(allowed.includes(src.replace(/\/$/, '')), `${src} is allowed into the build context`);
      t.ok(fs.existsSync(path.join(repo, src)), `${src} exists`);
    }
  }
});

function sh(
  cmd: string,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, { cwd, env, shell: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function request(
  url: string,
  opts: { method?: string; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.request(
      url,
      {
        method: opts.method ?? 'GET',
        // The dev CA is generated at start; this test is about the image, not the chain.
        rejectUnauthorized: false,
        headers: opts.body ? { 'content-type': 'application/json' } : {},
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

function listing(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((rel) => {
      const st = fs.lstatSync(path.join(dir, rel));
      return `${rel}:${st.size}:${st.mtimeMs}`;
    })
    .sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test(
  'replaying the Dockerfile builds an app that serves reviews with production dependencies only',
  { timeout: 600_000 },
  async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gra-image-'));
    t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

    // --- build stage: the repo's node_modules stands in for `npm ci` with dev dependencies.
    const build = path.join(tmp, 'build');
    fs.mkdirSync(build);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'])
      fs.copyFileSync(path.join(repo, f), path.join(build, f));
    fs.cpSync(path.join(repo, 'src'), path.join(build, 'src'), { recursive: true });
    fs.symlinkSync(path.join(repo, 'node_modules'), path.join(build, 'node_modules'), 'dir');
    const built = await sh('npm run build', build);
    t.equal(
      built.code,
      0,
      `npm run build (as in the build stage) succeeds:\n${built.out.slice(-3000)}`,
    );
    if (built.code !== 0) return;
    t.ok(fs.existsSync(path.join(build, 'dist/cli/main.js')), 'dist/cli/main.js built');

    // --- deps stage: exactly the Dockerfile's RUN line.
    const deps = path.join(tmp, 'deps');
    fs.mkdirSync(deps);
    for (const f of ['package.json', 'package-lock.json'])
      fs.copyFileSync(path.join(repo, f), path.join(deps, f));
    const depsCmd = runLines(stage('deps')).find((l) => l.startsWith('npm ci'))!;
    // prefer-offline only decides where npm reads tarballs from (a warm cache first); the
    // installed tree is what the lockfile says either way.
    const installed = await sh(depsCmd, deps, {
      ...process.env,
      npm_config_prefer_offline: 'true',
      npm_config_update_notifier: 'false',
    });
    t.equal(
      installed.code,
      0,
      `${depsCmd} succeeds (needs the npm registry or a warm cache):\n${installed.out.slice(-3000)}`,
    );
    if (installed.code !== 0) return;

    // --- runtime stage
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.renameSync(path.join(deps, 'node_modules'), path.join(app, 'node_modules'));
    fs.cpSync(path.join(build, 'dist'), path.join(app, 'dist'), { recursive: true });
    fs.copyFileSync(path.join(repo, 'package.json'), path.join(app, 'package.json'));

    const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies))
      t.ok(
        fs.existsSync(path.join(app, 'node_modules', dep, 'package.json')),
        `runtime has ${dep}`,
      );
    // (ajv is left out: fastify depends on it in production too.)
    for (const dep of ['typescript', 'tap', 'fast-check', 'autocannon', '@marcbachmann/cel-js']) {
      if (dep in pkg.devDependencies)
        t.notOk(
          fs.existsSync(path.join(app, 'node_modules', dep, 'package.json')),
          `runtime has no dev dependency ${dep}`,
        );
    }

    const before = listing(app);
    const certDir = path.join(tmp, 'certs'); // outside the app dir, as the chart's emptyDir is
    const port = await freePort();
    const metricsPort = await freePort();
    const entry = /^ENTRYPOINT\s+(\[.*\])$/.exec(
      parsed.stages.at(-1)!.lines.find((l) => l.startsWith('ENTRYPOINT'))!,
    )![1]!;
    const [cmd, ...args] = JSON.parse(entry) as string[];
    t.equal(cmd, 'node');
    const child: ChildProcess = spawn(process.execPath, args, {
      cwd: app,
      env: {
        PATH: process.env.PATH,
        HOME: tmp,
        NODE_ENV: 'production',
        GRA_HOST: '127.0.0.1',
        GRA_PORT: String(port),
        GRA_METRICS_PORT: String(metricsPort),
        GRA_CERT_MODE: 'dev',
        GRA_CERT_DIR: certDir,
        GRA_SHUTDOWN_GRACE_MS: '2000',
        GRA_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const exitedPromise = new Promise<void>((resolve) =>
      child.on('exit', (code, signal) => {
        exited = { code, signal };
        resolve();
      }),
    );
    t.teardown(async () => {
      if (!exited) {
        child.kill('SIGKILL');
        await exitedPromise;
      }
    });

    // Wait for /healthz: generous, a 2-core CI machine generates an RSA key pair on first start.
    const base = `https://127.0.0.1:${port}`;
    let health: { status: number; body: string } | undefined;
    for (let i = 0; i < 240 && !exited; i++) {
      health = await request(`${base}/healthz`).catch(() => undefined);
      if (health) break;
      await sleep(250);
    }
    if (!health) {
      t.fail(
        `server from the replayed image never answered on ${base}/healthz (exited: ${JSON.stringify(exited)}):\n${output.slice(-3000)}`,
      );
      return;
    }
    t.equal(health.status, 200, 'GET /healthz over HTTPS');

    let ready = await request(`${base}/readyz`);
    for (let i = 0; i < 120 && ready.status !== 200; i++) {
      await sleep(250);
      ready = await request(`${base}/readyz`);
    }
    t.equal(ready.status, 200, 'GET /readyz');

    // A real review through the production dependency tree (rules, TOML parser, token classifier).
    const review = fs.readFileSync(
      path.join(repo, 'test/fixtures/admission/configmap-create-registration-token.json'),
      'utf8',
    );
    const res = await request(`${base}/validate?timeout=10s`, { method: 'POST', body: review });
    t.equal(res.status, 200, `POST /validate: ${res.body.slice(0, 500)}`);
    const answer = JSON.parse(res.body) as { response?: { allowed?: boolean } };
    t.equal(
      answer.response?.allowed,
      false,
      'the seed ConfigMap with a registration token is denied',
    );

    const metrics = await request(`http://127.0.0.1:${metricsPort}/metrics`).catch((e: Error) => ({
      status: 0,
      body: e.message,
    }));
    t.equal(
      metrics.status,
      200,
      `plain-HTTP /metrics on GRA_METRICS_PORT (the chart's metrics port): ${metrics.body.slice(0, 200)}`,
    );

    // SIGTERM, as the kubelet sends it: the process drains and exits by itself.
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await exitedPromise;
    clearTimeout(killTimer);
    t.same(exited, { code: 0, signal: null }, `exits 0 on SIGTERM:\n${output.slice(-2000)}`);

    t.same(
      listing(app),
      before,
      'nothing was written into the app directory (read-only root filesystem in the pod)',
    );
    t.ok(fs.existsSync(certDir), 'dev certs went to GRA_CERT_DIR');
  },
);
