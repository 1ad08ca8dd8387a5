import { posix } from 'node:path';
import { parseRunnerConfig } from '../config/index.js';
import type { Finding, ObjectRef } from '../findings/types.js';
import { makeFinding, type Location } from '../rules/rule.js';
import {
  INJECTED,
  INJECTED_WITHOUT_PRESTOP,
  NOT_INJECTED_LOOKUP,
  NOT_INJECTED_NO_LOOKUPS,
  NOT_INJECTED_NO_TOKEN_SOURCE,
  NOT_INJECTED_UNSAFE_SPLIT,
  NOT_INJECTED_UNSUPPORTED,
} from '../rules/mutation/rules.js';
import { classifyToken, isPlaceholderLike, isRealToken } from '../tokens/index.js';
import { analyzeWorkload, getPodSpec, runProvenance } from '../workload/index.js';
import type {
  ContainerAnalysis,
  EnvEntry,
  MountInfo,
  ResolvedRefs,
  WorkloadAnalysis,
} from '../workload/types.js';
import {
  INJECTED as INJECTED_ANNOTATION,
  TOKEN_SECRET,
  injectionDisabled,
  tokenSecretRef,
} from './annotations.js';
import { PatchBuilder, type JsonPatchOp } from './patch.js';
import { SCRIPT_MARK, preStopCommand, registerScript } from './script.js';
import { verifySplit } from './split.js';
import { refOf } from '../findings/ref.js';
import { CHART_KEYS, TOKEN_ENV, WORKLOAD_KINDS } from '../runner/facts.js';
import { isRecord } from '../util/is-record.js';

/**
 * Pure planning of the registration injection (issue 3; docs/mutation.md): given the raw
 * object and what the lookups read, decide whether a runner workload needs a registration step
 * and, if so, the JSON Patch that adds it. Never throws on odd input: anything unexpected is
 * "no patch".
 */

export const INIT_CONTAINER_NAME = 'register-runner';
export const WRITABLE_VOLUME = 'gra-runner-config';
export const TEMPLATE_MOUNT_CANDIDATES = ['/configmaps', '/gra-configmaps'];

export type SkipReason =
  | 'not-a-workload'
  | 'not-a-runner'
  | 'opted-out'
  | 'already-injected'
  | 'no-run'
  | 'registers-already'
  | 'no-config-source'
  | 'no-lookups'
  | 'lookup-failed'
  | 'not-needed'
  | 'no-token-source'
  | 'unsafe-split'
  | 'unsupported';

export type InjectionPlan =
  | { action: 'patch'; patch: JsonPatchOp[]; findings: Finding[]; annotation?: InjectionRecord }
  | { action: 'none'; reason: SkipReason; findings: Finding[] };

export interface PlanOptions {
  /** AdmissionReview request.kind.kind (authoritative over object.kind) */
  kind: string;
  /** undefined: the webhook runs without Kubernetes lookups */
  resolved?: ResolvedRefs;
  /** namespace of the request, for finding locations */
  namespace?: string;
}

/** What the `gitlab-runner-admission/injected` annotation records (JSON). */
export interface InjectionRecord {
  initContainer: string;
  volume: string;
  config: string;
  template: string;
  source: string;
  token: string;
  flows: ('registration' | 'authentication')[];
  preStopUnregister: boolean;
  why: string;
}

type Flow = 'registration' | 'authentication';

interface TokenPlan {
  env: Record<string, unknown>[];
  flows: Flow[];
  text: string;
  sourceText: string;
}

function arr(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

// Env the init step must not inherit from the runner container: the token slots (it gets its
// own), the options reserved to the server with an authentication token (fatal to `register`,
// facts §2), and the file options the script sets by flag.
const ENV_NOT_COPIED =
  /^(REGISTRATION_TOKEN|CI_SERVER_TOKEN|REGISTER_.*|RUNNER_TAG_LIST|CONFIG_FILE|TEMPLATE_CONFIG_FILE)$/;

/** Proxy settings: `register` must reach GitLab the way `run` does (docs/mutation.md). */
const PROXY_ENV = /^(https?|no|all|ftp)_proxy$/i;

/** `http://user:pass@proxy:3128`: the userinfo is a password, not a setting. */
function proxyHasCredentials(value: string): boolean {
  // NO_PROXY is a host list; a URL scheme is optional in HTTP(S)_PROXY (`proxy:3128`)
  return /^[^/?#]*:\/\/[^/?#@]*@/.test(value.trim()) || /^[^/?#:@]+:[^/?#@]*@/.test(value.trim());
}

/**
 * Proxy env is copied by name: a literal without credentials as is, a secretKeyRef as the same
 * reference (the proxy's password, not the runner token, and register needs it to reach GitLab);
 * a literal URL with `user:pass@` is not copied (it would put the password in a second place; put
 * it in a Secret and reference it). Returns undefined when the entry is not a proxy setting.
 */
function proxyEnv(
  e: Record<string, unknown> & { name: string },
): Record<string, unknown> | null | undefined {
  if (!PROXY_ENV.test(e.name)) return undefined;
  if (typeof e.value === 'string') return proxyHasCredentials(e.value) ? null : structuredClone(e);
  if (isRecord(e.valueFrom) && e.valueFrom.secretKeyRef !== undefined) return structuredClone(e);
  return e.value === undefined && e.valueFrom === undefined ? structuredClone(e) : null;
}

function copiedEnv(container: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const e of arr(container.env)) {
    if (!isRecord(e) || typeof e.name !== 'string' || ENV_NOT_COPIED.test(e.name)) continue;
    const proxy = proxyEnv(e as Record<string, unknown> & { name: string });
    if (proxy !== undefined) {
      if (proxy !== null) out.push(proxy);
      continue;
    }
    // Secrets stay with the container that needs them (least privilege); a literal that looks
    // like a token is not duplicated either (the validating rules report it on the runner).
    if (isRecord(e.valueFrom) && e.valueFrom.secretKeyRef !== undefined) continue;
    if (typeof e.value === 'string') {
      const cls = classifyToken(e.value).cls;
      if (isRealToken(cls) || cls.kind === 'env-reference') continue;
    }
    out.push(structuredClone(e));
  }
  return out;
}

function secretKeyEnv(
  name: string,
  secret: string,
  key: string,
  optional: boolean,
): Record<string, unknown> {
  return {
    name,
    valueFrom: { secretKeyRef: { name: secret, key, ...(optional ? { optional: true } : {}) } },
  };
}

/** The token source, or a reason to stop. */
function planToken(
  obj: unknown,
  c: ContainerAnalysis,
  resolved: ResolvedRefs | undefined,
):
  | { ok: true; plan: TokenPlan }
  | { ok: false; reason: 'none' }
  | { ok: false; reason: 'bad'; text: string } {
  const ts = tokenSecretRef(obj);
  if (ts) {
    const srcText = `Secret ${ts.name}`;
    // One chart key, required: the flow it feeds is known.
    const single = (flow: Flow): { ok: true; plan: TokenPlan } => {
      const auth = flow === 'authentication';
      const key = auth ? ts.runnerKey : ts.registrationKey;
      return {
        ok: true,
        plan: {
          env: [secretKeyEnv(auth ? TOKEN_ENV.auth : TOKEN_ENV.registration, ts.name, key, false)],
          flows: [flow],
          text: `${auth ? 'authentication' : 'registration'} token from ${srcText} key ${key}`,
          sourceText: srcText,
        },
      };
    };
    if (ts.explicitKey === 'registration') return single('registration');
    if (ts.explicitKey === 'runner') return single('authentication');
    // present only when the lookups were allowed to read Secrets (settings.kube.readSecrets)
    const data = resolved?.secrets.get(ts.name);
    if (isRecord(data)) {
      // The Secret was read: use exactly the key that holds a token (an authentication token
      // first), and check its kind.
      const keys = [
        {
          flow: 'authentication',
          key: ts.runnerKey,
          holds: 'an authentication',
          wrong: 'registration',
        },
        { flow: 'registration', key: ts.registrationKey, holds: 'a registration', wrong: 'auth' },
      ] as const;
      for (const { flow, key, holds, wrong } of keys) {
        const value = (data[key] ?? '').trim();
        if (!value) continue;
        const k = classifyToken(value).cls.kind;
        if (k === wrong || k === 'other-gitlab')
          return {
            ok: false,
            reason: 'bad',
            text: `${srcText} key ${key} does not hold ${holds} token`,
          };
        return single(flow);
      }
      return {
        ok: false,
        reason: 'bad',
        text: `${srcText} has neither ${ts.runnerKey} nor ${ts.registrationKey} set`,
      };
    }
    // Not read (the default: no Secret access): both chart keys, optional, and the script takes
    // whichever is non-empty, an authentication token first. The key name decides the flow.
    return {
      ok: true,
      plan: {
        env: [
          secretKeyEnv(TOKEN_ENV.auth, ts.name, ts.runnerKey, true),
          secretKeyEnv(TOKEN_ENV.registration, ts.name, ts.registrationKey, true),
        ],
        flows: ['authentication', 'registration'],
        text: `token from ${srcText} (key ${ts.runnerKey}, else ${ts.registrationKey})`,
        sourceText: srcText,
      },
    };
  }
  // Implicit: the runner container already gets a token slot from a Secret.
  const implicit = c.env.filter(
    (e): e is EnvEntry & { source: { type: 'secretKeyRef'; name: string; key: string } } =>
      (e.name === TOKEN_ENV.registration || e.name === TOKEN_ENV.auth) &&
      e.source.type === 'secretKeyRef',
  );
  if (implicit.length === 0) return { ok: false, reason: 'none' };
  const env: Record<string, unknown>[] = [];
  const flows: Flow[] = [];
  const parts: string[] = [];
  for (const e of implicit) {
    // The chart's key names tell the kind; the wrong slot is denied by the validating rules
    // (GRA204) and must not be copied into a registration step.
    if (e.name === TOKEN_ENV.auth && e.source.key === CHART_KEYS.registrationToken)
      return {
        ok: false,
        reason: 'bad',
        text: `CI_SERVER_TOKEN comes from key ${CHART_KEYS.registrationToken}`,
      };
    if (e.name === TOKEN_ENV.registration && e.source.key === CHART_KEYS.runnerToken)
      return {
        ok: false,
        reason: 'bad',
        text: `REGISTRATION_TOKEN comes from key ${CHART_KEYS.runnerToken}`,
      };
    env.push(secretKeyEnv(e.name, e.source.name, e.source.key, e.source.optional === true));
    flows.push(e.name === TOKEN_ENV.auth ? 'authentication' : 'registration');
    parts.push(`${e.name} from Secret ${e.source.name} key ${e.source.key}`);
  }
  const names = [...new Set(implicit.map((e) => `Secret ${e.source.name}`))].join(', ');
  return { ok: true, plan: { env, flows, text: parts.join('; '), sourceText: names } };
}

function uniqueName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

function isOurs(c: unknown): boolean {
  return (
    isRecord(c) && arr(c.command).some((w) => typeof w === 'string' && w.includes(SCRIPT_MARK))
  );
}

/**
 * The object already carries our init step. Usually that means "nothing to do" (reinvocation,
 * UPDATE of the stored object). But `kubectl apply` of the original manifest merges the user's
 * own fields back: the runner's config mount returns to the read-only ConfigMap while the
 * init step (never in last-applied) stays. Restore exactly what such a merge can revert — the
 * emptyDir volume and the runner's mount of the config directory — and nothing else.
 */
function buildRepair(t: RepairTarget): InjectionPlan {
  const { obj, init, spec, podSegs, runner, ref } = t;
  const first = arr(init.volumeMounts)[0];
  if (
    !runner ||
    !isRecord(first) ||
    typeof first.name !== 'string' ||
    typeof first.mountPath !== 'string'
  ) {
    return { action: 'none', reason: 'already-injected', findings: [] };
  }
  const volumeName = first.name;
  const configDir = posix.normalize(first.mountPath);
  const b = new PatchBuilder(obj);
  if (!arr(spec.volumes).some((v) => isRecord(v) && v.name === volumeName))
    b.append([...podSegs, 'volumes'], { name: volumeName, emptyDir: {} });
  const loc = runner.runConfig;
  if (
    loc?.mount &&
    loc.mount.name !== volumeName &&
    posix.dirname(posix.normalize(loc.path)) === configDir
  ) {
    b.replace([...podSegs, 'containers', runner.index, 'volumeMounts', loc.mount.index], {
      name: volumeName,
      mountPath: configDir,
    });
  }
  if (b.ops.length === 0) return { action: 'none', reason: 'already-injected', findings: [] };
  return {
    action: 'patch',
    patch: b.ops,
    findings: [
      makeFinding(
        INJECTED,
        {
          summary: `restored the writable config volume ${volumeName} at ${configDir} that a re-apply had reverted`,
        },
        { object: ref },
      ),
    ],
  };
}

/** An eligible workload: everything buildPatch needs, read off the object and the lookups. */
interface InjectTarget {
  kind: 'inject';
  obj: Record<string, unknown>;
  ref: ObjectRef;
  analysis: WorkloadAnalysis;
  spec: Record<string, unknown>;
  podSegs: string[];
  /** the container that runs `gitlab-runner run` */
  container: ContainerAnalysis;
  /** where it reads config.toml: a file on a mounted volume */
  config: { path: string; mount: MountInfo; volumePath: string };
  /** the runner config source (ConfigMap/Secret key) and why it needs registering */
  source: { kind: string; name: string; key: string };
  sourceText: string;
  why: string;
  token: TokenPlan;
  /** the user named a token Secret: skips of the shape step are worth a finding */
  hasAnnotation: boolean;
}

/** Our own init container is there but a re-apply reverted part of what came with it. */
interface RepairTarget {
  kind: 'repair';
  obj: Record<string, unknown>;
  ref: ObjectRef;
  init: Record<string, unknown>;
  spec: Record<string, unknown>;
  podSegs: string[];
  runner: ContainerAnalysis | undefined;
}

export type InjectionTarget = InjectTarget | RepairTarget;

export type Eligibility =
  | { eligible: false; reason: SkipReason; findings: Finding[] }
  | { eligible: true; target: InjectionTarget };

/** Given the raw object and what the lookups read: a patch, or the reason there is none. */
export function planInjection(obj: unknown, opts: PlanOptions): InjectionPlan {
  const e = injectionEligibility(obj, opts);
  if (!e.eligible) return { action: 'none', reason: e.reason, findings: e.findings };
  return buildPatch(e.target);
}

export function buildPatch(target: InjectionTarget): InjectionPlan {
  return target.kind === 'repair' ? buildRepair(target) : buildInjection(target);
}

/**
 * Does this workload need a registration step, and can one be added? Either the reason it
 * cannot (with a finding when the user asked for injection) or the target buildPatch works on.
 */
export function injectionEligibility(obj: unknown, opts: PlanOptions): Eligibility {
  const none = (reason: SkipReason, findings: Finding[] = []): Eligibility => ({
    eligible: false,
    reason,
    findings,
  });
  if (!WORKLOAD_KINDS.has(opts.kind) || !isRecord(obj)) return none('not-a-workload');
  const ref = refOf(obj, opts.kind, opts.namespace ? { namespace: opts.namespace } : {});
  const at = (extra: Omit<Location, 'object'> = {}): Location => ({ object: ref, ...extra });
  const viewed = typeof obj.kind === 'string' ? obj : { ...obj, kind: opts.kind };
  let a: WorkloadAnalysis | undefined;
  try {
    a = analyzeWorkload(viewed);
  } catch {
    a = undefined;
  }
  if (!a) return none('not-a-runner');
  if (injectionDisabled(obj)) return none('opted-out');

  const podSegs = a.podSpecPointer === '/spec' ? ['spec'] : ['spec', 'template', 'spec'];
  const ps = getPodSpec(viewed);
  if (!ps) return none('not-a-workload');
  const spec = ps.spec;
  const runIdx = a.containers
    .map((c, i) => ({ c, i }))
    .filter(
      ({ c }) =>
        c.role === 'container' && c.runConfig && c.invocations.some((v) => v.subcommand === 'run'),
    );
  const existing = arr(spec.initContainers).find(
    (c) => isRecord(c) && c.name === INIT_CONTAINER_NAME,
  );
  if (existing !== undefined) {
    if (!isOurs(existing)) return none('registers-already');
    const runner = runIdx.length === 1 ? runIdx[0]!.c : undefined;
    return {
      eligible: true,
      target: {
        kind: 'repair',
        obj,
        ref,
        init: existing as Record<string, unknown>,
        spec,
        podSegs,
        runner,
      },
    };
  }
  if (runIdx.length === 0) return none('no-run');
  const hasAnnotation = tokenSecretRef(obj) !== undefined;
  const unsupported = (reason: string): Eligibility =>
    none(
      'unsupported',
      hasAnnotation ? [makeFinding(NOT_INJECTED_UNSUPPORTED, { reason }, at())] : [],
    );
  if (runIdx.length > 1) return unsupported('more than one container runs `gitlab-runner run`');
  const { c, i: ci } = runIdx[0]!;
  const prov = runProvenance(a, ci);
  if (prov.registersFirst !== false) return none('registers-already');
  if (prov.copies.length > 0) return none('registers-already'); // the config is prepared by a step of the user's own
  if (c.opaque) return none('registers-already');

  const sources = a.referencedConfigSources.filter((s) => s.container === ci && s.via === 'mount');
  const loc = c.runConfig!;
  if (
    sources.length !== 1 ||
    !loc.mount ||
    !loc.mount.volume ||
    loc.volumePath === undefined ||
    loc.volumePath === ''
  )
    return none('no-config-source');
  const src = sources[0]!;
  const sourceText = `${src.kind} ${src.name} key ${src.key}`;

  // The config content decides whether registration is needed at all.
  if (!opts.resolved) {
    return none(
      'no-lookups',
      hasAnnotation
        ? [
            makeFinding(
              NOT_INJECTED_NO_LOOKUPS,
              {},
              at({ field: `metadata.annotations[${TOKEN_SECRET}]` }),
            ),
          ]
        : [],
    );
  }
  const data = (src.kind === 'ConfigMap' ? opts.resolved.configMaps : opts.resolved.secrets).get(
    src.name,
  );
  const lookupFailed = (reason: string): Eligibility => {
    const hasImplicit = c.env.some(
      (e) =>
        (e.name === TOKEN_ENV.registration || e.name === TOKEN_ENV.auth) &&
        e.source.type === 'secretKeyRef',
    );
    return none(
      'lookup-failed',
      hasAnnotation || hasImplicit
        ? [makeFinding(NOT_INJECTED_LOOKUP, { reason }, at({ dataKey: src.key }))]
        : [],
    );
  };
  if (data === undefined) {
    return lookupFailed(
      src.kind === 'Secret'
        ? `${sourceText} is a Secret, read only with GRA_KUBE_READ_SECRETS=true`
        : `${sourceText} was not read`,
    );
  }
  if (typeof data === 'string') return lookupFailed(`${sourceText}: ${data}`);
  const text = data[src.key];
  if (text === undefined) return lookupFailed(`${src.kind} ${src.name} has no key ${src.key}`);
  const parsed = parseRunnerConfig(text);
  if (!parsed.ok || parsed.runners.length === 0) return none('not-needed'); // the config rules report it

  const needy = parsed.runners.filter((r) => {
    if (r.token === undefined) return true;
    return isPlaceholderLike(classifyToken(r.token).cls);
  });
  if (needy.length === 0) return none('not-needed');
  if (needy.length !== parsed.runners.length)
    return unsupported(
      `${sourceText} mixes [[runners]] with and without a token; registering all would replace the working ones`,
    );
  const first = needy[0]!;
  const why = `${sourceText}: [[runners]] #${first.index}${first.name !== undefined ? ` "${first.name}"` : ''} has ${first.token === undefined || first.token.trim() === '' ? 'no token' : 'a placeholder token'}${parsed.runners.length > 1 ? ` (and ${parsed.runners.length - 1} more)` : ''}`;

  const token = planToken(obj, c, opts.resolved);
  if (!token.ok) {
    if (token.reason === 'none') {
      const runnerText = `${sourceText} [[runners]] #${first.index}${first.name !== undefined ? ` "${first.name}"` : ''}`;
      return none('no-token-source', [
        makeFinding(
          NOT_INJECTED_NO_TOKEN_SOURCE,
          { runner: runnerText },
          at({
            dataKey: src.key,
            runner: {
              index: first.index,
              ...(first.name !== undefined ? { name: first.name } : {}),
            },
          }),
        ),
      ]);
    }
    return none('unsupported', [
      makeFinding(NOT_INJECTED_UNSUPPORTED, { reason: token.text }, at()),
    ]);
  }

  const split = verifySplit(text);
  if (!split.ok)
    return none('unsafe-split', [
      makeFinding(NOT_INJECTED_UNSAFE_SPLIT, { reason: split.reason }, at({ dataKey: src.key })),
    ]);

  return {
    eligible: true,
    target: {
      kind: 'inject',
      obj,
      ref,
      analysis: a,
      spec,
      podSegs,
      container: c,
      config: { path: loc.path, mount: loc.mount, volumePath: loc.volumePath },
      source: src,
      sourceText,
      why,
      token: token.plan,
      hasAnnotation,
    },
  };
}

/** The JSON Patch for an eligible workload: init container, writable volume, preStop, record. */
function buildInjection(t: InjectTarget): InjectionPlan {
  const { obj, ref, spec, podSegs, container: c, sourceText, why, hasAnnotation } = t;
  const a = t.analysis;
  const token = { plan: t.token };
  const loc = t.config;
  const at = (extra: Omit<Location, 'object'> = {}): Location => ({ object: ref, ...extra });
  const unsupported = (reason: string): InjectionPlan => ({
    action: 'none',
    reason: 'unsupported',
    findings: hasAnnotation ? [makeFinding(NOT_INJECTED_UNSUPPORTED, { reason }, at())] : [],
  });
  const containers = arr(spec.containers);
  const runner = containers[c.index];
  if (!isRecord(runner)) return { action: 'none', reason: 'no-run', findings: [] };
  const image = typeof runner.image === 'string' && runner.image ? runner.image : undefined;
  if (!image) return unsupported('the runner container has no image');
  const configPath = posix.normalize(loc.path);
  const configDir = posix.dirname(configPath);
  if (!configPath.startsWith('/') || configDir === '/')
    return unsupported(`the config path ${configPath} is not in a directory of its own`);
  const mounts = arr(runner.volumeMounts);
  const mountIdx = c.mounts.find((m) => m === loc.mount)?.index ?? loc.mount.index;
  const otherMounts = mounts.filter((m, j) => j !== mountIdx && isRecord(m)) as Record<
    string,
    unknown
  >[];
  if (
    otherMounts.some(
      (m) => typeof m.mountPath === 'string' && posix.normalize(m.mountPath) === configDir,
    )
  ) {
    return unsupported(`another volume is mounted at ${configDir} already`);
  }
  const volumes = arr(spec.volumes).filter(isRecord);
  const volumeName = uniqueName(WRITABLE_VOLUME, new Set(volumes.map((v) => String(v.name))));
  const usedPaths = otherMounts.map((m) => String(m.mountPath ?? ''));
  const tplMount = TEMPLATE_MOUNT_CANDIDATES.find(
    (p) =>
      p !== configDir &&
      !usedPaths.some((u) => u === p || u.startsWith(`${p}/`) || p.startsWith(`${u}/`)),
  );
  if (!tplMount) return unsupported('no free path to mount the config template at');
  const templatePath = posix.join(tplMount, loc.volumePath);

  const script = registerScript({
    configPath,
    templatePath,
    tokenSourceText: token.plan.sourceText,
  });
  const init: Record<string, unknown> = {
    name: INIT_CONTAINER_NAME,
    image,
    ...(typeof runner.imagePullPolicy === 'string'
      ? { imagePullPolicy: runner.imagePullPolicy }
      : {}),
    command: ['/bin/sh', '-c', script],
    env: [...copiedEnv(runner), ...token.plan.env],
    ...(isRecord(runner.resources) ? { resources: structuredClone(runner.resources) } : {}),
    ...(isRecord(runner.securityContext)
      ? { securityContext: structuredClone(runner.securityContext) }
      : {}),
    volumeMounts: [
      { name: volumeName, mountPath: configDir },
      { name: loc.mount.name, mountPath: tplMount, readOnly: true },
      ...otherMounts.map((m) => structuredClone(m)),
    ],
  };

  const findings: Finding[] = [];
  const b = new PatchBuilder(obj);
  b.append([...podSegs, 'volumes'], { name: volumeName, emptyDir: {} });
  b.append([...podSegs, 'initContainers'], init);
  b.replace([...podSegs, 'containers', c.index, 'volumeMounts', mountIdx], {
    name: volumeName,
    mountPath: configDir,
  });

  const registration = token.plan.flows.includes('registration');
  let preStop = false;
  if (registration) {
    const lifecycle = runner.lifecycle;
    if (isRecord(lifecycle) && lifecycle.preStop !== undefined && lifecycle.preStop !== null) {
      findings.push(
        makeFinding(
          INJECTED_WITHOUT_PRESTOP,
          {},
          at({ field: `${a.fieldPrefix}.containers[${c.index}].lifecycle.preStop` }),
        ),
      );
    } else {
      b.setKey([...podSegs, 'containers', c.index, 'lifecycle'], 'preStop', {
        exec: { command: preStopCommand(configPath) },
      });
      preStop = true;
    }
  }

  const record: InjectionRecord = {
    initContainer: INIT_CONTAINER_NAME,
    volume: volumeName,
    config: configPath,
    template: templatePath,
    source: sourceText,
    token: token.plan.text,
    flows: token.plan.flows,
    preStopUnregister: preStop,
    why,
  };
  b.setKey(['metadata', 'annotations'], INJECTED_ANNOTATION, JSON.stringify(record));
  findings.unshift(makeFinding(INJECTED, { summary: `${token.plan.text}; ${why}` }, at()));
  return { action: 'patch', patch: b.ops, findings, annotation: record };
}
