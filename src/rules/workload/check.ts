import { parseRunnerConfigCached } from '../parse-cache.js';
import type { Finding, ObjectRef } from '../../findings/types.js';
import {
  classifyToken,
  describeToken,
  isPrefixedToken,
  isRealToken,
  type Classification,
} from '../../tokens/index.js';
import { analyzeWorkload, parseImage, resolvePath, runProvenance } from '../../workload/index.js';
import type {
  ContainerAnalysis,
  EnvEntry,
  Invocation,
  MountInfo,
  RegisterInfo,
  ResolvedRefs,
  ValueRef,
  WorkloadAnalysis,
} from '../../workload/types.js';
import { CHART_KEYS, TOKEN_ENV } from '../../runner/facts.js';
import { makeFinding, type Location, type RuleDef } from '../rule.js';
import {
  AUTH_TOKEN_IN_REGISTRATION_SLOT,
  FLOATING_RUNNER_IMAGE,
  FOREIGN_TOKEN_IN_SLOT,
  GLRT_IN_REGISTRATION_SLOT,
  REGISTER_CONFIG_READ_ONLY,
  REGISTRATION_TOKEN_IN_AUTH_SLOT,
  REPLICAS_SHARE_ROTATING_TOKEN,
  RESERVED_OPTIONS_WITH_AUTH_TOKEN,
  ROTATING_TOKEN_READ_ONLY,
  RUN_CONFIG_DIR_READ_ONLY,
  RUN_NEVER_AUTHENTICATES,
  SLOT_FROM_WRONG_CHART_KEY,
  TOKEN_AS_PLAIN_VALUE,
  TOKEN_WHITESPACE,
} from './rules.js';

/**
 * Findings for one workload. Pure: ConfigMaps/Secrets read from the cluster come in through
 * `resolved`; a failed lookup ('not-found' | 'forbidden' | 'error') yields no finding from the
 * rule that needed it (the pipeline reports the lookup itself).
 */

type Slot = 'auth' | 'registration';

/** A value as far as the manifest (plus lookups) tells it. */
type Known =
  | { state: 'known'; raw: string; from: 'literal' | 'lookup' }
  | { state: 'unknown' }
  | { state: 'lookup-failed' };

function lookup(
  resolved: ResolvedRefs | undefined,
  kind: 'Secret' | 'ConfigMap',
  name: string,
  key: string,
): Known {
  const r = resolved
    ? (kind === 'Secret' ? resolved.secrets : resolved.configMaps).get(name)
    : undefined;
  if (r === undefined) return { state: 'unknown' };
  if (typeof r === 'string') return { state: 'lookup-failed' };
  const v = r[key];
  return v === undefined ? { state: 'unknown' } : { state: 'known', raw: v, from: 'lookup' };
}

function envValue(e: EnvEntry, resolved: ResolvedRefs | undefined): Known {
  const s = e.source;
  if (s.type === 'value') return { state: 'known', raw: s.value, from: 'literal' };
  if (s.type === 'secretKeyRef') return lookup(resolved, 'Secret', s.name, s.key);
  if (s.type === 'configMapKeyRef') return lookup(resolved, 'ConfigMap', s.name, s.key);
  return { state: 'unknown' };
}

/** A variable that only envFrom can define: the last source holding it wins (Kubernetes semantics). */
function envFromValue(
  c: ContainerAnalysis,
  variable: string,
  resolved: ResolvedRefs | undefined,
): Known {
  let failed = false;
  for (let i = c.envFrom.length - 1; i >= 0; i--) {
    const ef = c.envFrom[i]!;
    const prefix = ef.prefix ?? '';
    if (!variable.startsWith(prefix)) continue;
    const k = lookup(
      resolved,
      ef.kind === 'secretRef' ? 'Secret' : 'ConfigMap',
      ef.name,
      variable.slice(prefix.length),
    );
    if (k.state === 'known') return k;
    if (k.state === 'lookup-failed') failed = true;
    else if (
      !resolved ||
      !(ef.kind === 'secretRef' ? resolved.secrets : resolved.configMaps).has(ef.name)
    )
      return { state: 'unknown' };
  }
  return failed ? { state: 'lookup-failed' } : { state: 'unknown' };
}

function refValue(ref: ValueRef, c: ContainerAnalysis, resolved: ResolvedRefs | undefined): Known {
  if (ref.kind === 'literal') return { state: 'known', raw: ref.value, from: 'literal' };
  if (ref.kind === 'env') {
    if (ref.entry) return envValue(ref.entry, resolved);
    if (ref.fromEnvFrom) return envFromValue(c, ref.variable, resolved);
  }
  return { state: 'unknown' };
}

/** `glrt-` (any glrt- form) is what register.go's tokenIsRunnerToken checks. */
function isGlrt(value: string): boolean {
  return value.startsWith('glrt-');
}

function commandField(c: ContainerAnalysis, inv: Invocation): string {
  if (inv.origin === 'preStop') return `${c.field}.lifecycle.preStop.exec.command`;
  if (inv.origin === 'postStart') return `${c.field}.lifecycle.postStart.exec.command`;
  if (inv.origin === 'image-default') return `${c.field}.image`;
  return `${c.field}.${c.argvField ?? 'command'}`;
}

function sourceText(m: MountInfo): string {
  const v = m.volume;
  if (!v) return 'unknown volume';
  const names = v.sources.map((s) => `${s.kind} ${s.name}`).join(', ');
  return names ? `${v.kind === 'projected' ? 'projected ' : ''}${names}` : v.kind;
}

interface SlotUse {
  slot: Slot;
  c: ContainerAnalysis;
  where: string;
  field: string;
  /** the env entry that feeds the slot, when there is one */
  entry?: EnvEntry;
  value: Known;
  /** written in the manifest itself (env `value` or a literal flag) */
  literal: boolean;
}

class Out {
  findings: Finding[] = [];
  private seen = new Set<string>();
  constructor(readonly object: ObjectRef) {}
  add<P>(
    rule: RuleDef<P>,
    params: P,
    at: Omit<Location, 'object'>,
    severity?: Finding['severity'],
  ): void {
    const id = `${rule.id}|${at.field ?? ''}|${at.dataKey ?? ''}|${at.runner?.index ?? ''}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.findings.push(makeFinding(rule, params, { object: this.object, ...at }, severity));
  }
}

function slotUses(c: ContainerAnalysis, resolved: ResolvedRefs | undefined): SlotUse[] {
  const uses: SlotUse[] = [];
  const seen = new Set<string>();
  const push = (u: SlotUse): void => {
    const id = `${u.slot}|${u.entry ? u.entry.field : u.field}`;
    if (seen.has(id)) return;
    seen.add(id);
    uses.push(u);
  };
  // The runner's own env names have a fixed meaning (commands/register.go env tags).
  for (const e of c.env) {
    const slot: Slot | undefined =
      e.name === TOKEN_ENV.auth
        ? 'auth'
        : e.name === TOKEN_ENV.registration
          ? 'registration'
          : undefined;
    if (slot)
      push({
        slot,
        c,
        where: `env ${e.name}`,
        field: e.field,
        entry: e,
        value: envValue(e, resolved),
        literal: e.source.type === 'value',
      });
  }
  // Any other variable means what the command line does with it (facts §5).
  for (const inv of [...c.invocations, ...c.lifecycle]) {
    if (
      inv.subcommand !== 'register' &&
      inv.subcommand !== 'unregister' &&
      inv.subcommand !== 'verify'
    )
      continue;
    for (const f of inv.flags) {
      const slot: Slot | undefined =
        f.name === 'token'
          ? 'auth'
          : f.name === 'registration-token' && inv.subcommand === 'register'
            ? 'registration'
            : undefined;
      if (!slot || !f.value) continue;
      const where = `\`${inv.verb} ${f.given}\``;
      if (f.value.kind === 'env' && f.value.entry) {
        const e = f.value.entry;
        push({
          slot,
          c,
          where: `env ${e.name} (used as ${where})`,
          field: e.field,
          entry: e,
          value: envValue(e, resolved),
          literal: e.source.type === 'value',
        });
      } else {
        const what =
          f.value.kind === 'env' ? `${where} ($${f.value.variable} from envFrom)` : where;
        push({
          slot,
          c,
          where: what,
          field: commandField(c, inv),
          value: refValue(f.value, c, resolved),
          literal: f.value.kind === 'literal',
        });
      }
    }
  }
  return uses;
}

function checkSlots(
  c: ContainerAnalysis,
  resolved: ResolvedRefs | undefined,
  out: Out,
): Set<string> {
  const reported = new Set<string>(); // env fields already judged as a slot
  for (const u of slotUses(c, resolved)) {
    if (u.entry) reported.add(u.entry.field);
    const e = u.entry;
    let wrongKind = false;
    if (u.value.state === 'known') {
      const cl = classifyToken(u.value.raw);
      const at: Omit<Location, 'object'> = { field: u.field, token: cl.redacted };
      const cls = cl.cls;
      if ((cl.surroundingWhitespace || cl.innerWhitespace) && cls.kind !== 'empty')
        out.add(TOKEN_WHITESPACE, { token: cl.redacted, where: u.where }, at);
      if (u.slot === 'auth' && cls.kind === 'registration') {
        out.add(REGISTRATION_TOKEN_IN_AUTH_SLOT, { token: cl.redacted, where: u.where }, at);
        wrongKind = true;
      } else if (u.slot === 'registration' && cls.kind === 'auth') {
        if (isGlrt(cl.value))
          out.add(GLRT_IN_REGISTRATION_SLOT, { token: cl.redacted, where: u.where }, at);
        else
          out.add(
            AUTH_TOKEN_IN_REGISTRATION_SLOT,
            { token: cl.redacted, where: u.where, what: describeToken(cls) },
            at,
          );
        wrongKind = true;
      } else if (cls.kind === 'other-gitlab') {
        out.add(
          FOREIGN_TOKEN_IN_SLOT,
          { token: cl.redacted, what: describeToken(cls), where: u.where },
          at,
        );
        wrongKind = true;
      }
      if (u.literal && plainWorthy(cl, true))
        out.add(
          TOKEN_AS_PLAIN_VALUE,
          { token: cl.redacted, what: describeToken(cls), where: u.where },
          at,
        );
    }
    // The chart's key names say which kind a key holds (the official chart's templates/deployment.yaml, src/runner/facts.ts); visible without a lookup.
    if (e && e.source.type === 'secretKeyRef' && !wrongKind) {
      const key = e.source.key;
      const expected = u.slot === 'auth' ? CHART_KEYS.runnerToken : CHART_KEYS.registrationToken;
      const other = u.slot === 'auth' ? CHART_KEYS.registrationToken : CHART_KEYS.runnerToken;
      if (key === other) {
        // with a lookup that shows the value is in fact the right kind, only the naming is off
        let sev: Finding['severity'] | undefined;
        if (u.value.state === 'known') {
          const k = classifyToken(u.value.raw).cls.kind;
          if (
            (u.slot === 'auth' && k === 'auth') ||
            (u.slot === 'registration' && k === 'registration')
          )
            sev = 'info';
        }
        out.add(
          SLOT_FROM_WRONG_CHART_KEY,
          { where: u.where, secret: e.source.name, key, expected },
          { field: e.field },
          sev,
        );
      }
    }
  }
  return reported;
}

/** Real tokens by shape; unprefixed ones only when a token slot says they are tokens. */
function plainWorthy(cl: Classification, inSlot: boolean): boolean {
  return inSlot ? isRealToken(cl.cls) : isPrefixedToken(cl.cls);
}

function checkPlainEnv(c: ContainerAnalysis, skip: Set<string>, out: Out): void {
  for (const e of c.env) {
    if (e.source.type !== 'value' || skip.has(e.field)) continue;
    const cl = classifyToken(e.source.value);
    if (!plainWorthy(cl, false)) continue;
    const at = { field: e.field, token: cl.redacted };
    if (cl.surroundingWhitespace || cl.innerWhitespace)
      out.add(TOKEN_WHITESPACE, { token: cl.redacted, where: `env ${e.name}` }, at);
    out.add(
      TOKEN_AS_PLAIN_VALUE,
      { token: cl.redacted, what: describeToken(cl.cls), where: `env ${e.name}` },
      at,
    );
  }
}

function checkReserved(
  c: ContainerAnalysis,
  r: RegisterInfo,
  resolved: ResolvedRefs | undefined,
  out: Out,
): void {
  const set = r.reserved.filter((o) => o.nonDefault !== false);
  if (set.length === 0) return;
  const tok = r.token ? refValue(r.token, c, resolved) : undefined;
  const reg = r.registrationToken ? refValue(r.registrationToken, c, resolved) : undefined;
  const tokVal = tok?.state === 'known' ? tok.raw.trim() : undefined;
  const regVal = reg?.state === 'known' ? reg.raw.trim() : undefined;
  let severity: Finding['severity'] | undefined;
  let token: string;
  if (tokVal !== undefined && tokVal !== '' && !isGlrt(tokVal)) return; // verify path: reserved options are not checked
  if (tokVal !== undefined && isGlrt(tokVal)) {
    severity = 'deny';
    token = classifyToken(tokVal).redacted;
  } else if ((tokVal === undefined || tokVal === '') && regVal !== undefined && isGlrt(regVal)) {
    severity = 'deny';
    token = classifyToken(regVal).redacted;
  } else if (tok && tok.state !== 'known' && tok.state !== 'lookup-failed') {
    // -t / CI_SERVER_TOKEN given but its value is not in the manifest
    severity = r.registrationToken ? 'warn' : 'deny';
    token = r.token?.kind === 'env' ? `$${r.token.variable}` : 'the --token value';
  } else return;
  const definite = set.filter((o) => o.nonDefault === true);
  if (definite.length === 0) severity = 'warn';
  const options = set.map((o) => (o.via === 'flag' ? `\`${o.given}\`` : o.given)).join(', ');
  const field = set.find((o) => o.field)?.field ?? commandField(c, r.invocation);
  out.add(RESERVED_OPTIONS_WITH_AUTH_TOKEN, { options, token }, { field }, severity);
}

function checkRegisterTarget(c: ContainerAnalysis, r: RegisterInfo, out: Out): void {
  if (r.configPath === undefined) return;
  const loc = resolvePath(r.configPath, c.mounts);
  if (!loc.readOnly || !loc.mount) return;
  out.add(
    REGISTER_CONFIG_READ_ONLY,
    { path: r.configPath, volume: loc.mount.name, source: sourceText(loc.mount) },
    { field: loc.mount.field },
  );
}

// Mutable tags that always point at the newest release (gitlab-runner image tags on Docker Hub).
const FLOATING_TAGS = new Set(['latest', 'bleeding', 'alpine', 'ubuntu', 'ubi-fips', 'main']);

function checkImage(c: ContainerAnalysis, out: Out): void {
  if (!c.runnerImage || !c.image) return;
  const img = parseImage(c.image);
  if (img.digest) return;
  if (img.tag === undefined || FLOATING_TAGS.has(img.tag))
    out.add(FLOATING_RUNNER_IMAGE, { image: c.image }, { field: `${c.field}.image` });
}

function isZeroTime(s: string): boolean {
  // the runner writes Go's zero time when a token does not expire
  return /^0001-01-01/.test(s.trim());
}

function rotationDisabled(c: ContainerAnalysis): boolean {
  const e = c.env.find((x) => x.name === 'FF_DISABLE_AUTOMATIC_TOKEN_ROTATION');
  return !!e && e.source.type === 'value' && /^(1|t|true)$/i.test(e.source.value.trim());
}

function checkResolvedConfig(
  a: WorkloadAnalysis,
  ci: number,
  resolved: ResolvedRefs,
  out: Out,
): void {
  const c = a.containers[ci]!;
  const prov = runProvenance(a, ci);
  if (prov.registersFirst !== false) return;
  for (const src of a.referencedConfigSources) {
    if (src.container !== ci) continue;
    const map = src.kind === 'Secret' ? resolved.secrets : resolved.configMaps;
    const data = map.get(src.name);
    if (data === undefined || typeof data === 'string') continue; // not fetched or lookup failed
    const text = data[src.key];
    if (text === undefined) continue;
    const parsed = parseRunnerConfigCached(text);
    if (!parsed.ok) continue; // the ConfigMap/Secret rules report invalid TOML
    const source = `${src.kind} ${src.name} key \`${src.key}\``;
    const mountField = c.runConfig?.mount?.field ?? c.field;
    const base = { field: src.via === 'mount' ? mountField : c.field, dataKey: src.key };
    if (parsed.runners.length === 0) {
      out.add(
        RUN_NEVER_AUTHENTICATES,
        {
          source,
          runner: 'there is no [[runners]] entry',
          problem: 'so there is nothing to authenticate',
        },
        base,
        'warn',
      );
      continue;
    }
    for (const r of parsed.runners) {
      const runnerName = `[[runners]] #${r.index}${r.name !== undefined ? ` "${r.name}"` : ''}`;
      const at: Omit<Location, 'object'> = {
        ...base,
        runner: { index: r.index, ...(r.name !== undefined ? { name: r.name } : {}) },
      };
      if (r.tokenLine !== undefined) at.line = r.tokenLine;
      let cl: Classification | undefined =
        r.token === undefined ? undefined : classifyToken(r.token);
      let via = '';
      if (cl?.cls.kind === 'env-reference') {
        // runner 18.10+ expands ${VAR} in token from the container env (facts §2)
        const variable = cl.cls.variable;
        const e = [...c.env].reverse().find((x) => x.name === variable);
        const k = e
          ? envValue(e, resolved)
          : c.envFrom.length > 0
            ? envFromValue(c, variable, resolved)
            : ({ state: 'known', raw: '', from: 'literal' } as Known);
        if (k.state !== 'known') cl = undefined;
        else {
          cl = classifyToken(k.raw);
          via = ` (via $${variable})`;
        }
        if (!cl) continue;
      }
      const kind = cl?.cls.kind ?? 'empty';
      if (cl) at.token = cl.redacted;
      let problem: string | undefined;
      if (kind === 'empty')
        problem = r.token === undefined ? 'has no token' : `has an empty token${via}`;
      else if (kind === 'placeholder') problem = `has the placeholder token ${cl!.redacted}${via}`;
      else if (kind === 'registration')
        problem = `has the registration token ${cl!.redacted}${via}`;
      else if (kind === 'other-gitlab')
        problem = `has ${cl!.redacted}${via}, ${describeToken(cl!.cls)}`;
      if (problem) {
        out.add(RUN_NEVER_AUTHENTICATES, { source, runner: runnerName, problem }, at);
        continue;
      }
      const expires =
        r.tokenExpiresAt !== undefined &&
        r.tokenExpiresAt.trim() !== '' &&
        !isZeroTime(r.tokenExpiresAt);
      if (!expires || rotationDisabled(c)) continue;
      if (c.runConfig?.readOnly)
        out.add(ROTATING_TOKEN_READ_ONLY, { source, runner: runnerName }, at);
      const many = a.perNode
        ? 'all pods of this DaemonSet (one per node)'
        : (a.replicas ?? 1) > 1
          ? `${a.replicas} replicas`
          : undefined;
      if (many && kind === 'auth')
        out.add(REPLICAS_SHARE_ROTATING_TOKEN, { source, runner: runnerName, replicas: many }, at);
    }
  }
}

export function workloadFindingsFor(
  a: WorkloadAnalysis,
  ref: ObjectRef,
  resolved?: ResolvedRefs,
): Finding[] {
  const out = new Out(ref);
  a.containers.forEach((c, ci) => {
    if (!c.isRunner) return;
    const judged = checkSlots(c, resolved, out);
    checkPlainEnv(c, judged, out);
    for (const r of c.registers) {
      checkReserved(c, r, resolved, out);
      checkRegisterTarget(c, r, out);
    }
    checkImage(c, out);
    if (c.runConfigDir?.readOnly && c.runConfigDir.mount) {
      const m = c.runConfigDir.mount;
      out.add(
        RUN_CONFIG_DIR_READ_ONLY,
        { dir: c.runConfigDir.path, volume: m.name, source: sourceText(m) },
        { field: m.field },
      );
    }
    if (resolved && c.runConfig) checkResolvedConfig(a, ci, resolved, out);
  });
  return out.findings;
}

/** All workload findings for `obj`; [] when it is not a runner workload. */
export function workloadFindings(obj: unknown, ref: ObjectRef, resolved?: ResolvedRefs): Finding[] {
  const a = analyzeWorkload(obj);
  return a ? workloadFindingsFor(a, ref, resolved) : [];
}
