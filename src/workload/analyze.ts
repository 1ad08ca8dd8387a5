import { posix } from 'node:path';
import { basename, hasExpansion, parseScript, shellInvocation, stripWrappers, variableOf, type Redirect } from './shell.js';
import type {
  ConfigSourceRef,
  ContainerAnalysis,
  CopyOp,
  EnvEntry,
  EnvFromEntry,
  EnvSource,
  FileLocation,
  Invocation,
  KeyToPath,
  MountInfo,
  ParsedFlag,
  PodSpecLike,
  PodSpecRef,
  RegisterInfo,
  ReservedOption,
  Subcommand,
  ValueRef,
  VolumeDataSource,
  VolumeInfo,
  WorkloadAnalysis,
} from './types.js';
import { isRecord } from '../util/is-record.js';
import { CONFIG_FILE_ENV, NONROOT_CONFIG, ROOT_CONFIG, TOKEN_ENV } from '../runner/facts.js';

/**
 * Pod-spec analysis of runner workloads. Facts: docs/facts.md §2, §4, §5; gitlab-runner
 * `commands/register.go` (flags, env names, reserved options), `commands/config.go` (default
 * config path), the official image's Dockerfile (ENTRYPOINT /entrypoint, CMD run …).
 */

function str(x: unknown): string | undefined {
  return typeof x === 'string' ? x : undefined;
}
function arr(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}
function strings(x: unknown): string[] | undefined {
  if (!Array.isArray(x)) return undefined;
  return x.map((v) => (typeof v === 'string' ? v : String(v)));
}

// Kinds whose pods come from spec.template (apps/v1 and the old apps/v1beta1, v1beta2,
// extensions/v1beta1 spellings keep the same shape).
const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job']);

export function getPodSpec(obj: unknown): PodSpecRef | undefined {
  if (!isRecord(obj) || !isRecord(obj.spec)) return undefined;
  const kind = str(obj.kind) ?? '';
  if (kind === 'Pod') return { spec: obj.spec, pointer: '/spec', kind };
  const tmpl = obj.spec.template;
  if ((TEMPLATE_KINDS.has(kind) || kind === '') && isRecord(tmpl) && isRecord(tmpl.spec)) {
    return { spec: tmpl.spec, pointer: '/spec/template/spec', kind: kind || 'Unknown' };
  }
  if (kind === '' && Array.isArray(obj.spec.containers)) return { spec: obj.spec, pointer: '/spec', kind: 'Pod' };
  return undefined;
}

// --- images ------------------------------------------------------------------------------

/** `gitlab/gitlab-runner`, `registry.gitlab.com/gitlab-org/gitlab-runner`, `…/gitlab-runner-ocp`, `gitlab-ci-multi-runner`; not the helper image. */
const RUNNER_REPO = /^(gitlab-ci-multi-runner|gitlab-runner(-ocp|-ubi|-ubi-fips)?)$/;

export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

export function parseImage(image: string): ImageRef {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const r: ImageRef = { repository: rest };
  if (tag !== undefined) r.tag = tag;
  if (digest !== undefined) r.digest = digest;
  return r;
}

export function isRunnerImage(image: string | undefined): boolean {
  if (!image || !image.includes('runner')) return false;
  return RUNNER_REPO.test(basename(parseImage(image).repository));
}

/** Non-root UBI/OpenShift runner images (USER 1001 in their Dockerfile). */
function nonRootImage(image: string | undefined): boolean {
  return !!image && /-(ocp|ubi)/.test(basename(parseImage(image).repository));
}

const RUNNER_BIN = /^gitlab-(ci-multi-)?runner(-linux-[a-z0-9]+)?(\.exe)?$/;

function isRunnerBinary(word: string, runnerImage: boolean): boolean {
  const b = basename(word);
  if (RUNNER_BIN.test(b)) return true;
  // the official image's /entrypoint execs `gitlab-runner "$@"`
  return runnerImage && word === '/entrypoint';
}

/** Cheap pre-check before any parsing: could this container be a runner at all? */
function mentionsRunner(c: Record<string, unknown>): boolean {
  const image = str(c.image);
  if (isRunnerImage(image)) return true;
  for (const k of ['command', 'args'] as const) {
    for (const v of arr(c[k])) if (typeof v === 'string' && (v.includes('gitlab-runner') || v.includes('gitlab-ci-multi-runner'))) return true;
  }
  return false;
}

// --- volumes, mounts, env ------------------------------------------------------------------

function keyToPaths(x: unknown): KeyToPath[] | undefined {
  if (!Array.isArray(x)) return undefined;
  const out: KeyToPath[] = [];
  for (const it of x) {
    if (isRecord(it) && typeof it.key === 'string') out.push({ key: it.key, path: str(it.path) ?? it.key });
  }
  return out;
}

function dataSource(kind: 'ConfigMap' | 'Secret', v: Record<string, unknown>, nameKey: 'name' | 'secretName'): VolumeDataSource | undefined {
  const name = str(v[nameKey]) ?? str(v.name);
  if (!name) return undefined;
  const s: VolumeDataSource = { kind, name };
  const items = keyToPaths(v.items);
  if (items) s.items = items;
  if (v.optional === true) s.optional = true;
  return s;
}

function readVolumes(spec: PodSpecLike): VolumeInfo[] {
  const out: VolumeInfo[] = [];
  for (const v of arr(spec.volumes)) {
    if (!isRecord(v) || typeof v.name !== 'string') continue;
    const info: VolumeInfo = { name: v.name, kind: 'other', sources: [], alwaysReadOnly: false };
    if (isRecord(v.configMap)) {
      info.kind = 'configMap';
      const s = dataSource('ConfigMap', v.configMap, 'name');
      if (s) info.sources.push(s);
    } else if (isRecord(v.secret)) {
      info.kind = 'secret';
      const s = dataSource('Secret', v.secret, 'secretName');
      if (s) info.sources.push(s);
    } else if (isRecord(v.projected)) {
      info.kind = 'projected';
      for (const src of arr(v.projected.sources)) {
        if (!isRecord(src)) continue;
        if (isRecord(src.configMap)) {
          const s = dataSource('ConfigMap', src.configMap, 'name');
          if (s) info.sources.push(s);
        } else if (isRecord(src.secret)) {
          const s = dataSource('Secret', src.secret, 'name');
          if (s) info.sources.push(s);
        }
      }
    } else if (v.emptyDir !== undefined) info.kind = 'emptyDir';
    else if (isRecord(v.hostPath)) info.kind = 'hostPath';
    else if (isRecord(v.persistentVolumeClaim)) info.kind = 'persistentVolumeClaim';
    else if (isRecord(v.downwardAPI)) info.kind = 'downwardAPI';
    // Since Kubernetes 1.9.4 these are always mounted read-only (CVE-2017-1002101 fix,
    // kubernetes PR #58720); `readOnly: false` does not make them writable.
    info.alwaysReadOnly = info.kind === 'configMap' || info.kind === 'secret' || info.kind === 'projected' || info.kind === 'downwardAPI';
    out.push(info);
  }
  return out;
}

function readMounts(c: Record<string, unknown>, volumes: Map<string, VolumeInfo>, field: string): MountInfo[] {
  const out: MountInfo[] = [];
  arr(c.volumeMounts).forEach((m, index) => {
    if (!isRecord(m) || typeof m.name !== 'string' || typeof m.mountPath !== 'string') return;
    const volume = volumes.get(m.name);
    const readOnlyFlag = m.readOnly === true;
    const mi: MountInfo = {
      index,
      name: m.name,
      mountPath: normalizePath(m.mountPath),
      readOnlyFlag,
      readOnly: readOnlyFlag || (volume?.alwaysReadOnly ?? false),
      field: `${field}.volumeMounts[${index}]`,
    };
    const sub = str(m.subPath) ?? str(m.subPathExpr);
    if (sub) mi.subPath = sub.replace(/^\/+|\/+$/g, '');
    if (volume) mi.volume = volume;
    out.push(mi);
  });
  return out;
}

function readEnv(c: Record<string, unknown>, field: string): { env: EnvEntry[]; envFrom: EnvFromEntry[] } {
  const env: EnvEntry[] = [];
  arr(c.env).forEach((e, index) => {
    if (!isRecord(e) || typeof e.name !== 'string') return;
    let source: EnvSource = { type: 'value', value: '' };
    if (e.value !== undefined && e.value !== null) source = { type: 'value', value: typeof e.value === 'string' ? e.value : String(e.value) };
    else if (isRecord(e.valueFrom)) {
      const vf = e.valueFrom;
      if (isRecord(vf.secretKeyRef) && typeof vf.secretKeyRef.key === 'string') {
        source = { type: 'secretKeyRef', name: str(vf.secretKeyRef.name) ?? '', key: vf.secretKeyRef.key };
        if (vf.secretKeyRef.optional === true) source.optional = true;
      } else if (isRecord(vf.configMapKeyRef) && typeof vf.configMapKeyRef.key === 'string') {
        source = { type: 'configMapKeyRef', name: str(vf.configMapKeyRef.name) ?? '', key: vf.configMapKeyRef.key };
        if (vf.configMapKeyRef.optional === true) source.optional = true;
      } else if (isRecord(vf.fieldRef)) source = { type: 'fieldRef' };
      else if (isRecord(vf.resourceFieldRef)) source = { type: 'resourceFieldRef' };
      else source = { type: 'other' };
    }
    env.push({ index, name: e.name, source, field: `${field}.env[${index}]` });
  });
  const envFrom: EnvFromEntry[] = [];
  arr(c.envFrom).forEach((e, index) => {
    if (!isRecord(e)) return;
    const kind = isRecord(e.secretRef) ? 'secretRef' : isRecord(e.configMapRef) ? 'configMapRef' : undefined;
    if (!kind) return;
    const ref = e[kind] as Record<string, unknown>;
    const entry: EnvFromEntry = { index, kind, name: str(ref.name) ?? '', field: `${field}.envFrom[${index}]` };
    if (typeof e.prefix === 'string' && e.prefix) entry.prefix = e.prefix;
    envFrom.push(entry);
  });
  return { env, envFrom };
}

// --- paths ---------------------------------------------------------------------------------

export function normalizePath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

export function resolvePath(path: string, mounts: MountInfo[]): FileLocation {
  const p = normalizePath(path);
  let best: MountInfo | undefined;
  for (const m of mounts) {
    if (p === m.mountPath || p.startsWith(m.mountPath === '/' ? '/' : `${m.mountPath}/`)) {
      if (!best || m.mountPath.length > best.mountPath.length) best = m;
    }
  }
  if (!best) return { path: p, readOnly: false };
  const rel = p === best.mountPath ? '' : p.slice(best.mountPath.length + (best.mountPath === '/' ? 0 : 1));
  const volumePath = [best.subPath, rel].filter((s) => s).join('/');
  return { path: p, mount: best, volumePath, readOnly: best.readOnly };
}

/** Same file as seen from two containers of one pod. */
function sameFile(a: FileLocation, ac: number, b: FileLocation, bc: number): boolean {
  if (a.mount && b.mount) return a.mount.name === b.mount.name && a.volumePath === b.volumePath;
  if (!a.mount && !b.mount) return ac === bc && a.path === b.path;
  return false;
}

function sameDir(dir: FileLocation, dc: number, file: FileLocation, fc: number): boolean {
  if (dir.mount && file.mount) return dir.mount.name === file.mount.name && posix.dirname(`/${file.volumePath}`) === posix.normalize(`/${dir.volumePath}`);
  if (!dir.mount && !file.mount) return dc === fc && posix.dirname(file.path) === dir.path;
  return false;
}

// Default config file paths: src/runner/facts.ts.
export { ROOT_CONFIG, NONROOT_CONFIG };

// --- gitlab-runner command lines -------------------------------------------------------------

const SHORTS: Record<string, Record<string, string>> = {
  register: { r: 'registration-token', t: 'token', u: 'url', c: 'config', n: 'non-interactive' },
  unregister: { t: 'token', u: 'url', n: 'name', c: 'config' },
  run: { c: 'config', n: 'service', d: 'working-directory', u: 'user' },
  verify: { c: 'config', n: 'name', t: 'token', u: 'url' },
  other: { c: 'config' },
};

const BOOL_FLAGS = new Set([
  'non-interactive', 'leave-runner', 'run-untagged', 'locked', 'paused', 'debug', 'help', 'all-runners', 'delete',
  'syslog', 'version',
]);
function isBoolFlag(name: string): boolean {
  return BOOL_FLAGS.has(name) || /(privileged|disable|tlsverify|allowed|oom-kill)/.test(name);
}

// register's options that are reserved to the server when registering with a glrt- token, with
// the env var each reads (gitlab-runner commands/register.go RegisterCommand struct tags).
export const RESERVED_OPTIONS: Record<string, string> = {
  locked: 'REGISTER_LOCKED',
  'access-level': 'REGISTER_ACCESS_LEVEL',
  'run-untagged': 'REGISTER_RUN_UNTAGGED',
  'maximum-timeout': 'REGISTER_MAXIMUM_TIMEOUT',
  paused: 'REGISTER_PAUSED',
  'tag-list': 'RUNNER_TAG_LIST',
  'maintenance-note': 'REGISTER_MAINTENANCE_NOTE',
};

function parseBool(v: string): boolean | undefined {
  // Go strconv.ParseBool, which urfave/cli uses for flag and env values
  if (/^(1|t|T|TRUE|true|True)$/.test(v)) return true;
  if (/^(0|f|F|FALSE|false|False)$/.test(v)) return false;
  return undefined;
}

/**
 * Whether a reserved option's value differs from register's default; only then does
 * `ensureServerConfigArgsEmpty` stop registration (Locked default true, the rest empty/false/0).
 */
export function reservedNonDefault(name: string, value: string | undefined): boolean | 'unknown' {
  if (value === undefined) {
    // a bare boolean flag means true
    if (name === 'locked') return false;
    if (name === 'run-untagged' || name === 'paused') return true;
    return 'unknown';
  }
  if (hasExpansion(value)) return 'unknown';
  switch (name) {
    case 'locked': {
      const b = parseBool(value);
      return b === undefined ? 'unknown' : !b;
    }
    case 'run-untagged':
    case 'paused': {
      const b = parseBool(value);
      return b === undefined ? 'unknown' : b;
    }
    case 'maximum-timeout':
      return value.trim() !== '' && Number(value) !== 0;
    default:
      return value !== '';
  }
}

interface Ctx {
  env: EnvEntry[];
  envFrom: EnvFromEntry[];
  /** variables assigned by the script itself (`export X=…`), which env entries do not describe */
  scriptVars: Set<string>;
}

export function valueRef(text: string, ctx: Ctx): ValueRef {
  const variable = variableOf(text);
  if (variable !== undefined) {
    if (ctx.scriptVars.has(variable)) return { kind: 'dynamic', text };
    const entry = findEnv(ctx.env, variable);
    const r: ValueRef = { kind: 'env', variable, fromEnvFrom: !entry && ctx.envFrom.length > 0 };
    if (entry) r.entry = entry;
    return r;
  }
  if (hasExpansion(text)) return { kind: 'dynamic', text };
  return { kind: 'literal', value: text };
}

function findEnv(env: EnvEntry[], name: string): EnvEntry | undefined {
  // the last definition wins in Kubernetes
  for (let i = env.length - 1; i >= 0; i--) if (env[i]!.name === name) return env[i];
  return undefined;
}

const SUBCOMMANDS: Record<string, Subcommand> = { run: 'run', register: 'register', unregister: 'unregister', verify: 'verify' };

export function parseInvocation(words: string[], ctx: Ctx, origin: Invocation['origin'], order: number): Invocation {
  let i = 0;
  // global options before the verb (gitlab-runner main.go: --debug, --log-level/-l, --log-format, --cpuprofile)
  while (i < words.length && words[i]!.startsWith('-')) {
    const w = words[i]!;
    i += /^(--log-level|-l|--log-format|--cpuprofile)$/.test(w) ? 2 : 1;
  }
  const verb = words[i] ?? '';
  const subcommand = SUBCOMMANDS[verb] ?? 'other';
  const shorts = SHORTS[subcommand] ?? SHORTS.other!;
  const flags: ParsedFlag[] = [];
  for (i = i + 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') break;
    if (!w.startsWith('-') || w === '-') continue;
    const eq = w.indexOf('=');
    const head = eq >= 0 ? w.slice(0, eq) : w;
    const raw = head.replace(/^--?/, '');
    const name = head.startsWith('--') ? raw : (shorts[raw] ?? raw);
    const flag: ParsedFlag = { name, given: head };
    if (eq >= 0) flag.value = valueRef(w.slice(eq + 1), ctx);
    else if (!isBoolFlag(name) && i + 1 < words.length && !words[i + 1]!.startsWith('-')) {
      flag.value = valueRef(words[i + 1]!, ctx);
      i++;
    }
    flags.push(flag);
  }
  return { subcommand, verb, flags, origin, order };
}

export function flagOf(inv: Invocation, name: string): ParsedFlag | undefined {
  for (let i = inv.flags.length - 1; i >= 0; i--) if (inv.flags[i]!.name === name) return inv.flags[i];
  return undefined;
}

// --- walking a container's command line ------------------------------------------------------

// Image default of gitlab/gitlab-runner (Dockerfile: ENTRYPOINT ["/usr/bin/dumb-init", "/entrypoint"],
// CMD ["run", "--user=gitlab-runner", "--working-directory=/home/gitlab-runner"]).
const DEFAULT_CMD = ['run', '--user=gitlab-runner', '--working-directory=/home/gitlab-runner'];

// Executables that never run gitlab-runner or scripts of their own; everything else with a path
// (`/scripts/run.sh`) may be a script we cannot see.
const PLAIN_TOOLS = new Set([
  'cp', 'mv', 'rm', 'mkdir', 'chmod', 'chown', 'cat', 'echo', 'printf', 'sed', 'awk', 'grep', 'tail', 'head', 'cut', 'tr',
  'sleep', 'ls', 'test', '[', '[[', 'true', 'false', 'export', 'set', 'unset', 'trap', 'wait', 'kill', 'exit', 'envsubst',
  'install', 'ln', 'touch', 'id', 'whoami', 'date', 'sort', 'uniq', 'wc', 'tee', 'find', 'xargs', 'curl', 'wget', 'jq',
  'update-ca-certificates', 'return', 'local', 'read', 'shift', 'cd', 'pwd', 'hostname', 'base64', 'stat', 'dirname',
  'basename', 'apk', 'apt-get', 'yum', 'dnf', 'tar', 'gzip', 'openssl', 'git', 'printenv', 'env', 'nslookup', 'ping',
]);

interface Walker {
  ci: number;
  runnerImage: boolean;
  ctx: Ctx;
  mounts: MountInfo[];
  invocations: Invocation[];
  copies: CopyOp[];
  opaque: boolean;
  order: number;
  sawRunnerBinary: boolean;
}

function walkArgv(w: Walker, argv: string[], origin: Invocation['origin'], redirects: Redirect[], depth: number, sink: Invocation[]): void {
  const words = stripWrappers(argv);
  if (words.length === 0) return;
  const sh = shellInvocation(words);
  if (sh) {
    if ('script' in sh) walkScript(w, sh.script, origin === 'argv' || origin === 'image-default' ? 'script' : origin, depth + 1, sink);
    else if (origin === 'argv' || origin === 'script' || origin === 'image-default') w.opaque = true;
    return;
  }
  const cmd = words[0]!;
  if (isRunnerBinary(cmd, w.runnerImage)) {
    w.sawRunnerBinary = true;
    sink.push(parseInvocation(words.slice(1), w.ctx, origin, w.order++));
    return;
  }
  const b = basename(cmd);
  if (origin === 'preStop' || origin === 'postStart') return;
  if (b === 'cp' || b === 'install') {
    recordCopy(w, b, words.slice(1));
    return;
  }
  const out = redirects.find((r) => r.op === '>' || r.op === '>>' || r.op === '>|');
  if (out) {
    const input = redirects.find((r) => r.op === '<');
    const operands = words.slice(1).filter((x) => !x.startsWith('-'));
    let src: string | undefined;
    if (b === 'cat' || b === 'envsubst') src = input?.target ?? operands[operands.length - 1];
    else if (b === 'sed' || b === 'awk') src = input?.target ?? (operands.length > 1 ? operands[operands.length - 1] : undefined);
    addCopy(w, src, out.target, false);
    return;
  }
  if (b === '.' || b === 'source' || (!PLAIN_TOOLS.has(b) && (cmd.includes('/') || /\.(sh|bash)$/.test(cmd)))) w.opaque = true;
}

function walkScript(w: Walker, script: string, origin: Invocation['origin'], depth: number, sink: Invocation[]): void {
  if (depth > 4) return;
  for (const c of parseScript(script)) {
    for (const a of c.assignments) w.ctx.scriptVars.add(a.name);
    const words = c.words.map((x) => x.text);
    if (words[0] === 'export' || words[0] === 'readonly' || words[0] === 'local' || words[0] === 'declare') {
      for (const x of words.slice(1)) {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(x);
        if (m) w.ctx.scriptVars.add(m[1]!);
      }
      continue;
    }
    if (words[0] === 'read') for (const x of words.slice(1)) if (!x.startsWith('-')) w.ctx.scriptVars.add(x);
    walkArgv(w, words, origin, c.redirects, depth, sink);
  }
}

function recordCopy(w: Walker, tool: string, args: string[]): void {
  const operands: string[] = [];
  let recursive = false;
  let targetDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--target-directory=')) targetDir = a.slice(19);
    else if (a === '-t' || a === '--target-directory') targetDir = args[++i];
    else if (tool === 'install' && /^-[mogS]$/.test(a)) i++;
    else if (a.startsWith('-') && a.length > 1) {
      if (/^-[a-zA-Z]*[rRa]/.test(a) || a === '--recursive' || a === '--archive') recursive = true;
    } else operands.push(a);
  }
  const dest = targetDir ?? operands.pop();
  if (dest === undefined || operands.length === 0) return;
  const destIsDir = targetDir !== undefined || dest.endsWith('/') || operands.length > 1;
  for (const src of operands) {
    const srcDirContents = /\/\.?$/.test(src) || (recursive && !/\.[A-Za-z0-9]+$/.test(basename(src)));
    if (recursive && srcDirContents) {
      const from = src.replace(/\/\.?$/, '');
      const to = /\/\.$/.test(src) || dest.endsWith('/') === false ? dest : posix.join(dest, basename(from));
      addCopy(w, from, to, true);
      continue;
    }
    const toFile = destIsDir || !/\.[A-Za-z0-9]+$/.test(basename(dest)) ? posix.join(dest, basename(src)) : dest;
    addCopy(w, src, toFile, false);
  }
}

function addCopy(w: Walker, src: string | undefined, dest: string, dir: boolean): void {
  if (hasExpansion(dest)) return;
  const op: CopyOp = { to: resolvePath(dest, w.mounts), dir, order: w.order++ };
  if (src !== undefined && !hasExpansion(src)) op.from = resolvePath(src, w.mounts);
  w.copies.push(op);
}

function securityUser(sc: unknown): { uid?: number; nonRoot?: boolean } {
  if (!isRecord(sc)) return {};
  const r: { uid?: number; nonRoot?: boolean } = {};
  if (typeof sc.runAsUser === 'number') r.uid = sc.runAsUser;
  if (typeof sc.runAsNonRoot === 'boolean') r.nonRoot = sc.runAsNonRoot;
  return r;
}

function configPathOf(inv: Invocation | undefined, ctx: Ctx, nonRoot: boolean): string | undefined {
  const flag = inv ? flagOf(inv, 'config') : undefined;
  if (flag) {
    const v = flag.value;
    if (!v) return undefined;
    if (v.kind === 'literal') return v.value;
    if (v.kind === 'env' && v.entry?.source.type === 'value' && !hasExpansion(v.entry.source.value)) return v.entry.source.value;
    return undefined;
  }
  const envCfg = findEnv(ctx.env, CONFIG_FILE_ENV);
  if (envCfg) return envCfg.source.type === 'value' && !hasExpansion(envCfg.source.value) ? envCfg.source.value : undefined;
  return nonRoot ? NONROOT_CONFIG : ROOT_CONFIG;
}

function envSlot(ctx: Ctx, name: string): ValueRef | undefined {
  const entry = findEnv(ctx.env, name);
  if (entry) return { kind: 'env', variable: name, entry, fromEnvFrom: false };
  return undefined;
}

function registerInfo(inv: Invocation, ctx: Ctx, nonRoot: boolean, envField: (e: EnvEntry) => string): RegisterInfo {
  const r: RegisterInfo = { invocation: inv, reserved: [] };
  const pick = (flag: string, env: string): ValueRef | undefined => flagOf(inv, flag)?.value ?? envSlot(ctx, env);
  const reg = pick('registration-token', TOKEN_ENV.registration);
  if (reg) r.registrationToken = reg;
  const tok = pick('token', TOKEN_ENV.auth);
  if (tok) r.token = tok;
  const tmpl = pick('template-config', 'TEMPLATE_CONFIG_FILE');
  if (tmpl) r.templateConfig = tmpl;
  const url = pick('url', 'CI_SERVER_URL');
  if (url) r.url = url;
  const cfg = configPathOf(inv, ctx, nonRoot);
  if (cfg !== undefined) r.configPath = cfg;
  for (const [name, envName] of Object.entries(RESERVED_OPTIONS)) {
    const f = flagOf(inv, name);
    if (f) {
      const lit = f.value?.kind === 'literal' ? f.value.value : f.value ? '$' : undefined;
      const opt: ReservedOption = { name, via: 'flag', given: f.given, nonDefault: reservedNonDefault(name, lit) };
      if (f.value) opt.value = f.value;
      r.reserved.push(opt);
      continue;
    }
    const e = findEnv(ctx.env, envName);
    if (e) {
      const nonDefault = e.source.type === 'value' ? reservedNonDefault(name, e.source.value) : 'unknown';
      const opt: ReservedOption = { name, via: 'env', given: envName, nonDefault, field: envField(e) };
      opt.value = e.source.type === 'value' ? { kind: 'literal', value: e.source.value } : { kind: 'env', variable: envName, entry: e, fromEnvFrom: false };
      r.reserved.push(opt);
    }
  }
  return r;
}

function analyzeContainer(
  c: Record<string, unknown>,
  role: ContainerAnalysis['role'],
  index: number,
  ci: number,
  pod: PodSpecLike,
  volumes: Map<string, VolumeInfo>,
  pointerPrefix: string,
  fieldPrefix: string,
): ContainerAnalysis {
  const key = role === 'initContainer' ? 'initContainers' : 'containers';
  const field = `${fieldPrefix}.${key}[${index}]`;
  const image = str(c.image);
  const runnerImage = isRunnerImage(image);
  const { env, envFrom } = readEnv(c, field);
  const mounts = readMounts(c, volumes, field);
  const podSec = securityUser(pod.securityContext);
  const ownSec = securityUser(c.securityContext);
  const uid = ownSec.uid ?? podSec.uid;
  const nonRoot = uid !== undefined ? uid !== 0 : (ownSec.nonRoot ?? podSec.nonRoot ?? false) || nonRootImage(image);
  const ctx: Ctx = { env, envFrom, scriptVars: new Set() };
  const w: Walker = { ci, runnerImage, ctx, mounts, invocations: [], copies: [], opaque: false, order: 0, sawRunnerBinary: false };

  const command = strings(c.command);
  const args = strings(c.args);
  if (command && command.length > 0) walkArgv(w, [...command, ...(args ?? [])], 'argv', [], 0, w.invocations);
  else if (runnerImage) {
    const a = args && args.length > 0 ? args : DEFAULT_CMD;
    // the image entrypoint passes args to gitlab-runner; `args: [sh, -c, …]` is not a thing it supports
    w.sawRunnerBinary = true;
    w.invocations.push(parseInvocation(a, ctx, args && args.length > 0 ? 'argv' : 'image-default', w.order++));
  } else if (args && args.length > 0) walkArgv(w, args, 'argv', [], 0, w.invocations);
  else w.opaque = true; // the image's own entrypoint: unknown

  const lifecycle: Invocation[] = [];
  if (isRecord(c.lifecycle)) {
    for (const [hook, origin] of [['preStop', 'preStop'], ['postStart', 'postStart']] as const) {
      const h = c.lifecycle[hook];
      const cmd = isRecord(h) && isRecord(h.exec) ? strings(h.exec.command) : undefined;
      if (cmd) walkArgv(w, cmd, origin, [], 0, lifecycle);
    }
  }

  const envField = (e: EnvEntry): string => e.field;
  const registers = w.invocations.filter((i) => i.subcommand === 'register').map((i) => registerInfo(i, ctx, nonRoot, envField));
  const ca: ContainerAnalysis = {
    role,
    index,
    name: str(c.name) ?? '',
    pointer: `${pointerPrefix}/${key}/${index}`,
    field,
    runnerImage,
    isRunner: runnerImage || w.sawRunnerBinary,
    opaque: w.opaque,
    invocations: w.invocations,
    lifecycle,
    registers,
    env,
    envFrom,
    mounts,
    copies: w.copies,
    nonRoot,
  };
  if (image !== undefined) ca.image = image;
  if (command && command.length > 0) ca.argvField = 'command';
  else if (args && args.length > 0) ca.argvField = 'args';
  const run = w.invocations.find((i) => i.subcommand === 'run');
  if (run) {
    const p = configPathOf(run, ctx, nonRoot);
    if (p !== undefined) {
      ca.runConfig = resolvePath(p, mounts);
      ca.runConfigDir = resolvePath(posix.dirname(normalizePath(p)), mounts);
    }
  }
  return ca;
}

// --- config sources --------------------------------------------------------------------------

/** The ConfigMap/Secret keys that end up as the file at `loc` (a path inside a volume). */
export function keysAt(loc: FileLocation): { kind: 'ConfigMap' | 'Secret'; name: string; key: string; optional?: boolean }[] {
  const v = loc.mount?.volume;
  if (!v || loc.volumePath === undefined || loc.volumePath === '') return [];
  const out: { kind: 'ConfigMap' | 'Secret'; name: string; key: string; optional?: boolean }[] = [];
  for (const s of v.sources) {
    let key: string | undefined;
    if (s.items) key = s.items.find((it) => normalizePath(`/${it.path}`) === `/${loc.volumePath}`)?.key;
    else if (!loc.volumePath.includes('/')) key = loc.volumePath;
    if (key !== undefined) out.push({ kind: s.kind, name: s.name, key, ...(s.optional ? { optional: true } : {}) });
  }
  return out;
}

export interface RunProvenance {
  /** a register step writes the config `run` reads before `run` starts (or may: a script we cannot see) */
  registersFirst: boolean | 'unknown';
  /** copies into that file, with the container they ran in */
  copies: { op: CopyOp; container: number }[];
}

/** What happens to the config file of container `ci`'s `run` before it starts. */
export function runProvenance(a: WorkloadAnalysis, ci: number): RunProvenance {
  const c = a.containers[ci]!;
  const loc = c.runConfig;
  const res: RunProvenance = { registersFirst: false, copies: [] };
  if (!loc) return res;
  const run = c.invocations.find((i) => i.subcommand === 'run')!;
  a.containers.forEach((o, oi) => {
    const before = o.role === 'initContainer' || oi === ci;
    if (!before) return;
    const earlier = (order: number): boolean => oi !== ci || order < run.order;
    for (const r of o.registers) {
      if (!earlier(r.invocation.order)) continue;
      if (r.configPath === undefined) {
        res.registersFirst = true;
        continue;
      }
      const target = resolvePath(r.configPath, o.mounts);
      // a register that writes into a read-only mount fails (GRA207) and provides nothing
      if (!target.readOnly && sameFile(target, oi, loc, ci)) res.registersFirst = true;
    }
    for (const op of o.copies) {
      if (!earlier(op.order)) continue;
      if (op.dir ? sameDir(op.to, oi, loc, ci) : sameFile(op.to, oi, loc, ci)) res.copies.push({ op, container: oi });
    }
    if (res.registersFirst !== true && o.opaque) {
      // a script we cannot read may register: only when it can reach the file
      const reaches = oi === ci ? !loc.readOnly : !!loc.mount && o.mounts.some((m) => m.name === loc.mount!.name && !m.readOnly);
      if (reaches) res.registersFirst = 'unknown';
    }
  });
  return res;
}

function configSources(a: WorkloadAnalysis): ConfigSourceRef[] {
  const out: ConfigSourceRef[] = [];
  const seen = new Set<string>();
  const add = (s: { kind: 'ConfigMap' | 'Secret'; name: string; key: string; optional?: boolean }, container: number, via: 'mount' | 'copy'): void => {
    const id = `${s.kind}/${s.name}/${s.key}/${container}`;
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ ...s, container, via });
  };
  a.containers.forEach((c, ci) => {
    if (!c.runConfig) return;
    const prov = runProvenance(a, ci);
    const copied = prov.copies.filter((x) => x.op.from);
    if (copied.length > 0) {
      for (const { op, container } of copied) {
        let from = op.from!;
        if (op.dir) {
          // the file of the same name inside the copied directory
          const name = posix.basename(c.runConfig.path);
          from = resolvePath(posix.join(from.path, name), a.containers[container]!.mounts);
        }
        for (const s of keysAt(from)) add(s, ci, 'copy');
      }
      return;
    }
    for (const s of keysAt(c.runConfig)) add(s, ci, 'mount');
  });
  return out;
}

// --- entry point ----------------------------------------------------------------------------

/** undefined when `obj` is not a workload or none of its containers is gitlab-runner. */
export function analyzeWorkload(obj: unknown): WorkloadAnalysis | undefined {
  const ps = getPodSpec(obj);
  if (!ps) return undefined;
  const spec = ps.spec;
  const init = arr(spec.initContainers).filter(isRecord);
  const main = arr(spec.containers).filter(isRecord);
  if (!init.some(mentionsRunner) && !main.some(mentionsRunner)) return undefined;

  const volumes = readVolumes(spec);
  const vmap = new Map(volumes.map((v) => [v.name, v]));
  const fieldPrefix = ps.pointer === '/spec' ? 'spec' : 'spec.template.spec';
  const containers: ContainerAnalysis[] = [];
  arr(spec.initContainers).forEach((c, i) => {
    if (isRecord(c)) containers.push(analyzeContainer(c, 'initContainer', i, containers.length, spec, vmap, ps.pointer, fieldPrefix));
  });
  arr(spec.containers).forEach((c, i) => {
    if (isRecord(c)) containers.push(analyzeContainer(c, 'container', i, containers.length, spec, vmap, ps.pointer, fieldPrefix));
  });
  if (!containers.some((c) => c.isRunner)) return undefined;

  const o = obj as Record<string, unknown>;
  const s = o.spec as Record<string, unknown>;
  const a: WorkloadAnalysis = {
    kind: ps.kind,
    podSpecPointer: ps.pointer,
    fieldPrefix,
    perNode: ps.kind === 'DaemonSet',
    volumes,
    containers,
    referencedConfigSources: [],
    referencedEnvSources: [],
  };
  if (ps.kind !== 'DaemonSet') {
    if (typeof s.replicas === 'number') a.replicas = s.replicas;
    else if (ps.kind === 'Pod') a.replicas = 1;
    else if (ps.kind !== 'Job') a.replicas = 1; // apiserver default
  }
  a.containers.forEach((c, ci) => {
    if (!c.runConfig) return;
    const prov = runProvenance(a, ci);
    c.registersBeforeRun = prov.registersFirst;
    c.configCopiedFrom = prov.copies.map(({ op, container }) => (op.from ? { from: op.from, container } : { container }));
  });
  a.referencedConfigSources = configSources(a);
  a.referencedEnvSources = envSources(a);
  return a;
}

function envSources(a: WorkloadAnalysis): { kind: 'ConfigMap' | 'Secret'; name: string }[] {
  const out: { kind: 'ConfigMap' | 'Secret'; name: string }[] = [];
  const seen = new Set<string>();
  const add = (kind: 'ConfigMap' | 'Secret', name: string): void => {
    if (!name || seen.has(`${kind}/${name}`)) return;
    seen.add(`${kind}/${name}`);
    out.push({ kind, name });
  };
  for (const c of a.containers) {
    if (!c.isRunner) continue;
    for (const e of c.env) {
      if (e.source.type === 'secretKeyRef') add('Secret', e.source.name);
      else if (e.source.type === 'configMapKeyRef') add('ConfigMap', e.source.name);
    }
    for (const e of c.envFrom) add(e.kind === 'secretRef' ? 'Secret' : 'ConfigMap', e.name);
  }
  return out;
}
