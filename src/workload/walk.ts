import { posix } from 'node:path';
import {
  basename,
  hasExpansion,
  parseScript,
  shellInvocation,
  stripWrappers,
  type Redirect,
} from './shell.js';
import type {
  ContainerAnalysis,
  CopyOp,
  EnvEntry,
  Invocation,
  MountInfo,
  PodSpecLike,
  VolumeInfo,
} from './types.js';
import { isRecord } from '../util/is-record.js';
import { configPathOf, parseInvocation, registerInfo, type Ctx } from './command-line.js';
import { isRunnerBinary, isRunnerImage, nonRootImage } from './image.js';
import {
  normalizePath,
  readEnv,
  readMounts,
  resolvePath,
  securityUser,
  str,
  strings,
} from './pod.js';

/**
 * Walking one container's command line and scripts: the gitlab-runner calls it makes, the files
 * it copies, and whether it runs something we cannot see. Each word is visited once.
 */

// Image default of gitlab/gitlab-runner (Dockerfile: ENTRYPOINT ["/usr/bin/dumb-init", "/entrypoint"],
// CMD ["run", "--user=gitlab-runner", "--working-directory=/home/gitlab-runner"]).
const DEFAULT_CMD = ['run', '--user=gitlab-runner', '--working-directory=/home/gitlab-runner'];

// Executables that never run gitlab-runner or scripts of their own; everything else with a path
// (`/scripts/run.sh`) may be a script we cannot see.
const PLAIN_TOOLS = new Set([
  'cp',
  'mv',
  'rm',
  'mkdir',
  'chmod',
  'chown',
  'cat',
  'echo',
  'printf',
  'sed',
  'awk',
  'grep',
  'tail',
  'head',
  'cut',
  'tr',
  'sleep',
  'ls',
  'test',
  '[',
  '[[',
  'true',
  'false',
  'export',
  'set',
  'unset',
  'trap',
  'wait',
  'kill',
  'exit',
  'envsubst',
  'install',
  'ln',
  'touch',
  'id',
  'whoami',
  'date',
  'sort',
  'uniq',
  'wc',
  'tee',
  'find',
  'xargs',
  'curl',
  'wget',
  'jq',
  'update-ca-certificates',
  'return',
  'local',
  'read',
  'shift',
  'cd',
  'pwd',
  'hostname',
  'base64',
  'stat',
  'dirname',
  'basename',
  'apk',
  'apt-get',
  'yum',
  'dnf',
  'tar',
  'gzip',
  'openssl',
  'git',
  'printenv',
  'env',
  'nslookup',
  'ping',
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

function walkArgv(
  w: Walker,
  argv: string[],
  origin: Invocation['origin'],
  redirects: Redirect[],
  depth: number,
  sink: Invocation[],
): void {
  const words = stripWrappers(argv);
  if (words.length === 0) return;
  const sh = shellInvocation(words);
  if (sh) {
    if ('script' in sh)
      walkScript(
        w,
        sh.script,
        origin === 'argv' || origin === 'image-default' ? 'script' : origin,
        depth + 1,
        sink,
      );
    else if (origin === 'argv' || origin === 'script' || origin === 'image-default')
      w.opaque = true;
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
    else if (b === 'sed' || b === 'awk')
      src = input?.target ?? (operands.length > 1 ? operands[operands.length - 1] : undefined);
    addCopy(w, src, out.target, false);
    return;
  }
  if (
    b === '.' ||
    b === 'source' ||
    (!PLAIN_TOOLS.has(b) && (cmd.includes('/') || /\.(sh|bash)$/.test(cmd)))
  )
    w.opaque = true;
}

function walkScript(
  w: Walker,
  script: string,
  origin: Invocation['origin'],
  depth: number,
  sink: Invocation[],
): void {
  if (depth > 4) return;
  for (const c of parseScript(script)) {
    for (const a of c.assignments) w.ctx.scriptVars.add(a.name);
    const words = c.words.map((x) => x.text);
    if (
      words[0] === 'export' ||
      words[0] === 'readonly' ||
      words[0] === 'local' ||
      words[0] === 'declare'
    ) {
      for (const x of words.slice(1)) {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(x);
        if (m) w.ctx.scriptVars.add(m[1]!);
      }
      continue;
    }
    if (words[0] === 'read')
      for (const x of words.slice(1)) if (!x.startsWith('-')) w.ctx.scriptVars.add(x);
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
    const srcDirContents =
      /\/\.?$/.test(src) || (recursive && !/\.[A-Za-z0-9]+$/.test(basename(src)));
    if (recursive && srcDirContents) {
      const from = src.replace(/\/\.?$/, '');
      const to =
        /\/\.$/.test(src) || dest.endsWith('/') === false ? dest : posix.join(dest, basename(from));
      addCopy(w, from, to, true);
      continue;
    }
    const toFile =
      destIsDir || !/\.[A-Za-z0-9]+$/.test(basename(dest)) ? posix.join(dest, basename(src)) : dest;
    addCopy(w, src, toFile, false);
  }
}

function addCopy(w: Walker, src: string | undefined, dest: string, dir: boolean): void {
  if (hasExpansion(dest)) return;
  const op: CopyOp = { to: resolvePath(dest, w.mounts), dir, order: w.order++ };
  if (src !== undefined && !hasExpansion(src)) op.from = resolvePath(src, w.mounts);
  w.copies.push(op);
}

export function analyzeContainer(
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
  const nonRoot =
    uid !== undefined
      ? uid !== 0
      : (ownSec.nonRoot ?? podSec.nonRoot ?? false) || nonRootImage(image);
  const ctx: Ctx = { env, envFrom, scriptVars: new Set() };
  const w: Walker = {
    ci,
    runnerImage,
    ctx,
    mounts,
    invocations: [],
    copies: [],
    opaque: false,
    order: 0,
    sawRunnerBinary: false,
  };

  const command = strings(c.command);
  const args = strings(c.args);
  if (command && command.length > 0)
    walkArgv(w, [...command, ...(args ?? [])], 'argv', [], 0, w.invocations);
  else if (runnerImage) {
    const a = args && args.length > 0 ? args : DEFAULT_CMD;
    // the image entrypoint passes args to gitlab-runner; `args: [sh, -c, …]` is not a thing it supports
    w.sawRunnerBinary = true;
    w.invocations.push(
      parseInvocation(a, ctx, args && args.length > 0 ? 'argv' : 'image-default', w.order++),
    );
  } else if (args && args.length > 0) walkArgv(w, args, 'argv', [], 0, w.invocations);
  else w.opaque = true; // the image's own entrypoint: unknown

  const lifecycle: Invocation[] = [];
  if (isRecord(c.lifecycle)) {
    for (const [hook, origin] of [
      ['preStop', 'preStop'],
      ['postStart', 'postStart'],
    ] as const) {
      const h = c.lifecycle[hook];
      const cmd = isRecord(h) && isRecord(h.exec) ? strings(h.exec.command) : undefined;
      if (cmd) walkArgv(w, cmd, origin, [], 0, lifecycle);
    }
  }

  const envField = (e: EnvEntry): string => e.field;
  const registers = w.invocations
    .filter((i) => i.subcommand === 'register')
    .map((i) => registerInfo(i, ctx, nonRoot, envField));
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
