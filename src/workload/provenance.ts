import { posix } from 'node:path';
import type {
  ConfigSourceRef,
  CopyOp,
  FileLocation,
  VolumeDataSource,
  WorkloadAnalysis,
} from './types.js';
import { normalizePath, resolvePath } from './pod.js';

/**
 * Where the config file a container's `run` reads comes from: a `register` before it, copies
 * into it (from a ConfigMap mount to an emptyDir, …), or the ConfigMap/Secret mounted there.
 *
 * Linear in the pod spec: every write (register target, copy destination) is indexed once by
 * the file it lands on, and each `run` looks its own file up. Comparing every `run` with every
 * write of every container made a Deployment of 2,500 copying init containers and 1,200 runners
 * cost seconds per review.
 */

export interface SourceKey {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  key: string;
  optional?: boolean;
}

const itemIndexes = new WeakMap<VolumeDataSource, Map<string, string>>();

/** `items` by normalized path inside the volume, built once per source (first item wins). */
function itemIndex(s: VolumeDataSource): Map<string, string> {
  let m = itemIndexes.get(s);
  if (!m) {
    m = new Map();
    for (const it of s.items ?? []) {
      const p = normalizePath(`/${it.path}`);
      if (!m.has(p)) m.set(p, it.key);
    }
    itemIndexes.set(s, m);
  }
  return m;
}

/** The ConfigMap/Secret keys that end up as the file at `loc` (a path inside a volume). */
export function keysAt(loc: FileLocation): SourceKey[] {
  const v = loc.mount?.volume;
  if (!v || loc.volumePath === undefined || loc.volumePath === '') return [];
  const out: SourceKey[] = [];
  for (const s of v.sources) {
    let key: string | undefined;
    if (s.items) key = itemIndex(s).get(`/${loc.volumePath}`);
    else if (!loc.volumePath.includes('/')) key = loc.volumePath;
    if (key !== undefined)
      out.push({ kind: s.kind, name: s.name, key, ...(s.optional ? { optional: true } : {}) });
  }
  return out;
}

export interface RunProvenance {
  /** a register step writes the config `run` reads before `run` starts (or may: a script we cannot see) */
  registersFirst: boolean | 'unknown';
  /** copies into that file, with the container they ran in; shared between containers, do not modify */
  copies: readonly { op: CopyOp; container: number }[];
}

// Identity of a file or directory as seen from container `ci`: on a volume, the volume name and
// the path inside it (the same in every container that mounts it); otherwise the container's own.
function fileKey(loc: FileLocation, ci: number): string {
  return loc.mount ? `v\0${loc.mount.name}\0${loc.volumePath}` : `c\0${ci}\0${loc.path}`;
}
function dirKeyOf(dir: FileLocation, ci: number): string {
  return dir.mount
    ? `v\0${dir.mount.name}\0${posix.normalize(`/${dir.volumePath}`)}`
    : `c\0${ci}\0${dir.path}`;
}
function parentKey(file: FileLocation, ci: number): string {
  return file.mount
    ? `v\0${file.mount.name}\0${posix.dirname(`/${file.volumePath}`)}`
    : `c\0${ci}\0${posix.dirname(file.path)}`;
}

type CopyEntry = { op: CopyOp; container: number };

interface Writes {
  /** copies by destination file, then by destination directory (`cp -r dir/. dest/`), in container then step order */
  files: Map<string, CopyEntry[]>;
  dirs: Map<string, CopyEntry[]>;
  /** registers by the file they write: how many in init containers, and the steps per container */
  registers: Map<string, { init: number; steps: Map<number, number[]> }>;
  /** registers whose target is not known from the manifest */
  unknownRegisters: { init: number; steps: Map<number, number[]> };
  /** opaque init containers that mount a volume writable, by volume name (each container once) */
  opaqueWriters: Map<string, Set<number>>;
  /** memo: the copies into one file from init containers, merged from `files` and `dirs` */
  merged: Map<string, readonly CopyEntry[]>;
  provenance: Map<number, RunProvenance>;
}

const writesOf = new WeakMap<WorkloadAnalysis, Writes>();

function countStep(
  r: { init: number; steps: Map<number, number[]> },
  container: number,
  init: boolean,
  order: number,
): void {
  if (init) r.init++;
  const list = r.steps.get(container);
  if (list) list.push(order);
  else r.steps.set(container, [order]);
}

function indexWrites(a: WorkloadAnalysis): Writes {
  let w = writesOf.get(a);
  if (w) return w;
  w = {
    files: new Map(),
    dirs: new Map(),
    registers: new Map(),
    unknownRegisters: { init: 0, steps: new Map() },
    opaqueWriters: new Map(),
    merged: new Map(),
    provenance: new Map(),
  };
  const add = (m: Map<string, CopyEntry[]>, key: string, e: CopyEntry): void => {
    const list = m.get(key);
    if (list) list.push(e);
    else m.set(key, [e]);
  };
  a.containers.forEach((o, oi) => {
    const init = o.role === 'initContainer';
    for (const r of o.registers) {
      if (r.configPath === undefined) {
        countStep(w!.unknownRegisters, oi, init, r.invocation.order);
        continue;
      }
      const target = resolvePath(r.configPath, o.mounts);
      // a register that writes into a read-only mount fails (GRA207) and provides nothing
      if (target.readOnly) continue;
      const key = fileKey(target, oi);
      let entry = w!.registers.get(key);
      if (!entry) w!.registers.set(key, (entry = { init: 0, steps: new Map() }));
      countStep(entry, oi, init, r.invocation.order);
    }
    for (const op of o.copies)
      add(op.dir ? w!.dirs : w!.files, op.dir ? dirKeyOf(op.to, oi) : fileKey(op.to, oi), {
        op,
        container: oi,
      });
    if (init && o.opaque) {
      for (const m of o.mounts) {
        if (m.readOnly) continue;
        let set = w!.opaqueWriters.get(m.name);
        if (!set) w!.opaqueWriters.set(m.name, (set = new Set()));
        set.add(oi);
      }
    }
  });
  writesOf.set(a, w);
  return w;
}

/** Two lists sorted by (container, step) into one, keeping that order. */
function mergeSorted(x: readonly CopyEntry[], y: readonly CopyEntry[]): readonly CopyEntry[] {
  if (x.length === 0) return y;
  if (y.length === 0) return x;
  const out: CopyEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const a = x[i]!;
    const b = y[j]!;
    if (a.container < b.container || (a.container === b.container && a.op.order <= b.op.order))
      out.push(x[i++]!);
    else out.push(y[j++]!);
  }
  while (i < x.length) out.push(x[i++]!);
  while (j < y.length) out.push(y[j++]!);
  return out;
}

/** What happens to the config file of container `ci`'s `run` before it starts. Computed once per container. */
export function runProvenance(a: WorkloadAnalysis, ci: number): RunProvenance {
  const w = indexWrites(a);
  const memo = w.provenance.get(ci);
  if (memo) return memo;
  const c = a.containers[ci]!;
  const loc = c.runConfig;
  const res: RunProvenance = { registersFirst: false, copies: [] };
  if (!loc) return res;
  const run = c.invocations.find((i) => i.subcommand === 'run')!;
  const selfInit = c.role === 'initContainer';
  // Init containers all run before; in the container itself only the steps before `run`.
  const ownEarlier = (steps: number[] | undefined): number =>
    steps ? steps.filter((o) => o < run.order).length : 0;
  const registered = (r: { init: number; steps: Map<number, number[]> } | undefined): boolean => {
    if (!r) return false;
    const own = r.steps.get(ci);
    const others = r.init - (selfInit ? (own?.length ?? 0) : 0);
    return others > 0 || ownEarlier(own) > 0;
  };
  if (registered(w.unknownRegisters) || registered(w.registers.get(fileKey(loc, ci))))
    res.registersFirst = true;

  const fk = fileKey(loc, ci);
  const dk = parentKey(loc, ci);
  const memoKey = `${fk}\n${dk}`;
  let all = w.merged.get(memoKey);
  if (!all) {
    const before = (e: CopyEntry): boolean => a.containers[e.container]!.role === 'initContainer';
    all = mergeSorted(
      (w.files.get(fk) ?? []).filter(before),
      (w.dirs.get(dk) ?? []).filter(before),
    );
    w.merged.set(memoKey, all);
  }
  // The container's own copies: drop the ones after `run` (an init container is in `all`
  // already), and add a main container's, which come after every init container.
  const ownList: CopyEntry[] = [];
  for (const op of c.copies)
    if (op.dir ? dirKeyOf(op.to, ci) === dk : fileKey(op.to, ci) === fk)
      ownList.push({ op, container: ci });
  if (ownList.length === 0) res.copies = all;
  else if (selfInit) res.copies = all.filter((e) => e.container !== ci || e.op.order < run.order);
  else res.copies = [...all, ...ownList.filter((e) => e.op.order < run.order)];

  if (res.registersFirst !== true) {
    // a script we cannot read may register: only when it can reach the file
    const selfReaches = c.opaque && !loc.readOnly;
    const writers = loc.mount ? w.opaqueWriters.get(loc.mount.name) : undefined;
    const othersReach = !!writers && (writers.size > 1 || (writers.size === 1 && !writers.has(ci)));
    if (selfReaches || othersReach) res.registersFirst = 'unknown';
  }
  w.provenance.set(ci, res);
  return res;
}

const sourcesOfCopies = new WeakMap<readonly CopyEntry[], Map<string, SourceKey[]>>();

/** The distinct keys a list of copies brings into a file named `name`; memoized per shared list. */
function copiedKeys(a: WorkloadAnalysis, copies: readonly CopyEntry[], name: string): SourceKey[] {
  let byName = sourcesOfCopies.get(copies);
  if (!byName) sourcesOfCopies.set(copies, (byName = new Map()));
  const hit = byName.get(name);
  if (hit) return hit;
  const out: SourceKey[] = [];
  const seen = new Set<string>();
  for (const { op, container } of copies) {
    if (!op.from) continue;
    // a directory copy brings the file of the same name inside the copied directory
    const from = op.dir
      ? resolvePath(posix.join(op.from.path, name), a.containers[container]!.mounts)
      : op.from;
    for (const s of keysAt(from)) {
      const id = `${s.kind}\0${s.name}\0${s.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(s);
    }
  }
  byName.set(name, out);
  return out;
}

export function configSources(a: WorkloadAnalysis): ConfigSourceRef[] {
  const out: ConfigSourceRef[] = [];
  a.containers.forEach((c, ci) => {
    if (!c.runConfig) return;
    const prov = runProvenance(a, ci);
    if (prov.copies.some((x) => x.op.from)) {
      for (const s of copiedKeys(a, prov.copies, posix.basename(c.runConfig.path)))
        out.push({ ...s, container: ci, via: 'copy' });
      return;
    }
    const seen = new Set<string>();
    for (const s of keysAt(c.runConfig)) {
      const id = `${s.kind}\0${s.name}\0${s.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push({ ...s, container: ci, via: 'mount' });
    }
  });
  return out;
}

export function envSources(a: WorkloadAnalysis): { kind: 'ConfigMap' | 'Secret'; name: string }[] {
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
