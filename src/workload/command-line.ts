import { hasExpansion, variableOf } from './shell.js';
import type {
  EnvEntry,
  EnvFromEntry,
  Invocation,
  ParsedFlag,
  RegisterInfo,
  ReservedOption,
  Subcommand,
  ValueRef,
} from './types.js';
import { CONFIG_FILE_ENV, NONROOT_CONFIG, ROOT_CONFIG, TOKEN_ENV } from '../runner/facts.js';

/**
 * gitlab-runner's own command line: verbs, flags and the env vars they fall back to. Facts:
 * gitlab-runner `main.go` (global options), `commands/register.go` (flags, env names, reserved
 * options), `commands/config.go` (default config path); urfave/cli for flag syntax.
 */

const SHORTS: Record<string, Record<string, string>> = {
  register: { r: 'registration-token', t: 'token', u: 'url', c: 'config', n: 'non-interactive' },
  unregister: { t: 'token', u: 'url', n: 'name', c: 'config' },
  run: { c: 'config', n: 'service', d: 'working-directory', u: 'user' },
  verify: { c: 'config', n: 'name', t: 'token', u: 'url' },
  other: { c: 'config' },
};

const BOOL_FLAGS = new Set([
  'non-interactive',
  'leave-runner',
  'run-untagged',
  'locked',
  'paused',
  'debug',
  'help',
  'all-runners',
  'delete',
  'syslog',
  'version',
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

export interface Ctx {
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

const envIndexes = new WeakMap<readonly EnvEntry[], Map<string, EnvEntry>>();

/** The entry that defines `name`; indexed once per container, not scanned per reference. */
export function findEnv(env: readonly EnvEntry[], name: string): EnvEntry | undefined {
  let index = envIndexes.get(env);
  if (!index) {
    index = new Map();
    // the last definition wins in Kubernetes
    for (const e of env) index.set(e.name, e);
    envIndexes.set(env, index);
  }
  return index.get(name);
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  run: 'run',
  register: 'register',
  unregister: 'unregister',
  verify: 'verify',
};

export function parseInvocation(
  words: string[],
  ctx: Ctx,
  origin: Invocation['origin'],
  order: number,
): Invocation {
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
  for (let i = inv.flags.length - 1; i >= 0; i--)
    if (inv.flags[i]!.name === name) return inv.flags[i];
  return undefined;
}

export function configPathOf(
  inv: Invocation | undefined,
  ctx: Ctx,
  nonRoot: boolean,
): string | undefined {
  const flag = inv ? flagOf(inv, 'config') : undefined;
  if (flag) {
    const v = flag.value;
    if (!v) return undefined;
    if (v.kind === 'literal') return v.value;
    if (v.kind === 'env' && v.entry?.source.type === 'value' && !hasExpansion(v.entry.source.value))
      return v.entry.source.value;
    return undefined;
  }
  const envCfg = findEnv(ctx.env, CONFIG_FILE_ENV);
  if (envCfg)
    return envCfg.source.type === 'value' && !hasExpansion(envCfg.source.value)
      ? envCfg.source.value
      : undefined;
  return nonRoot ? NONROOT_CONFIG : ROOT_CONFIG;
}

function envSlot(ctx: Ctx, name: string): ValueRef | undefined {
  const entry = findEnv(ctx.env, name);
  if (entry) return { kind: 'env', variable: name, entry, fromEnvFrom: false };
  return undefined;
}

export function registerInfo(
  inv: Invocation,
  ctx: Ctx,
  nonRoot: boolean,
  envField: (e: EnvEntry) => string,
): RegisterInfo {
  const r: RegisterInfo = { invocation: inv, reserved: [] };
  const pick = (flag: string, env: string): ValueRef | undefined =>
    flagOf(inv, flag)?.value ?? envSlot(ctx, env);
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
      const opt: ReservedOption = {
        name,
        via: 'flag',
        given: f.given,
        nonDefault: reservedNonDefault(name, lit),
      };
      if (f.value) opt.value = f.value;
      r.reserved.push(opt);
      continue;
    }
    const e = findEnv(ctx.env, envName);
    if (e) {
      const nonDefault =
        e.source.type === 'value' ? reservedNonDefault(name, e.source.value) : 'unknown';
      const opt: ReservedOption = {
        name,
        via: 'env',
        given: envName,
        nonDefault,
        field: envField(e),
      };
      opt.value =
        e.source.type === 'value'
          ? { kind: 'literal', value: e.source.value }
          : { kind: 'env', variable: envName, entry: e, fromEnvFrom: false };
      r.reserved.push(opt);
    }
  }
  return r;
}
