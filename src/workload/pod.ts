import { posix } from 'node:path';
import type {
  EnvEntry,
  EnvFromEntry,
  EnvSource,
  FileLocation,
  KeyToPath,
  MountInfo,
  PodSpecLike,
  PodSpecRef,
  VolumeDataSource,
  VolumeInfo,
} from './types.js';
import { isRecord } from '../util/is-record.js';
import { NONROOT_CONFIG, ROOT_CONFIG } from '../runner/facts.js';

/**
 * The pod spec as data: where it sits in the object, its volumes, each container's mounts and
 * env, and which mount a path lands on. Kubernetes facts: the core/v1 PodSpec API reference.
 */

export function str(x: unknown): string | undefined {
  return typeof x === 'string' ? x : undefined;
}
export function arr(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}
export function strings(x: unknown): string[] | undefined {
  if (!Array.isArray(x)) return undefined;
  return x.map((v) => (typeof v === 'string' ? v : String(v)));
}

// Kinds whose pods come from spec.template (apps/v1 and the old apps/v1beta1, v1beta2,
// extensions/v1beta1 spellings keep the same shape).
const TEMPLATE_KINDS = new Set([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'ReplicationController',
  'Job',
]);

export function getPodSpec(obj: unknown): PodSpecRef | undefined {
  if (!isRecord(obj) || !isRecord(obj.spec)) return undefined;
  const kind = str(obj.kind) ?? '';
  if (kind === 'Pod') return { spec: obj.spec, pointer: '/spec', kind };
  const tmpl = obj.spec.template;
  if ((TEMPLATE_KINDS.has(kind) || kind === '') && isRecord(tmpl) && isRecord(tmpl.spec)) {
    return { spec: tmpl.spec, pointer: '/spec/template/spec', kind: kind || 'Unknown' };
  }
  if (kind === '' && Array.isArray(obj.spec.containers))
    return { spec: obj.spec, pointer: '/spec', kind: 'Pod' };
  return undefined;
}

// --- volumes, mounts, env ------------------------------------------------------------------

function keyToPaths(x: unknown): KeyToPath[] | undefined {
  if (!Array.isArray(x)) return undefined;
  const out: KeyToPath[] = [];
  for (const it of x) {
    if (isRecord(it) && typeof it.key === 'string')
      out.push({ key: it.key, path: str(it.path) ?? it.key });
  }
  return out;
}

function dataSource(
  kind: 'ConfigMap' | 'Secret',
  v: Record<string, unknown>,
  nameKey: 'name' | 'secretName',
): VolumeDataSource | undefined {
  const name = str(v[nameKey]) ?? str(v.name);
  if (!name) return undefined;
  const s: VolumeDataSource = { kind, name };
  const items = keyToPaths(v.items);
  if (items) s.items = items;
  if (v.optional === true) s.optional = true;
  return s;
}

export function readVolumes(spec: PodSpecLike): VolumeInfo[] {
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
    info.alwaysReadOnly =
      info.kind === 'configMap' ||
      info.kind === 'secret' ||
      info.kind === 'projected' ||
      info.kind === 'downwardAPI';
    out.push(info);
  }
  return out;
}

export function readMounts(
  c: Record<string, unknown>,
  volumes: Map<string, VolumeInfo>,
  field: string,
): MountInfo[] {
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
    if (sub) mi.subPath = trimSlashes(sub);
    if (volume) mi.volume = volume;
    out.push(mi);
  });
  return out;
}

// A loop, not /^\/+|\/+$/g: that regex backtracks over a long run of slashes (quadratic).
function trimSlashes(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s.charCodeAt(a) === 47) a++;
  while (b > a && s.charCodeAt(b - 1) === 47) b--;
  return s.slice(a, b);
}

export function readEnv(
  c: Record<string, unknown>,
  field: string,
): { env: EnvEntry[]; envFrom: EnvFromEntry[] } {
  const env: EnvEntry[] = [];
  arr(c.env).forEach((e, index) => {
    if (!isRecord(e) || typeof e.name !== 'string') return;
    let source: EnvSource = { type: 'value', value: '' };
    if (e.value !== undefined && e.value !== null)
      source = { type: 'value', value: typeof e.value === 'string' ? e.value : String(e.value) };
    else if (isRecord(e.valueFrom)) {
      const vf = e.valueFrom;
      if (isRecord(vf.secretKeyRef) && typeof vf.secretKeyRef.key === 'string') {
        source = {
          type: 'secretKeyRef',
          name: str(vf.secretKeyRef.name) ?? '',
          key: vf.secretKeyRef.key,
        };
        if (vf.secretKeyRef.optional === true) source.optional = true;
      } else if (isRecord(vf.configMapKeyRef) && typeof vf.configMapKeyRef.key === 'string') {
        source = {
          type: 'configMapKeyRef',
          name: str(vf.configMapKeyRef.name) ?? '',
          key: vf.configMapKeyRef.key,
        };
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
    const kind = isRecord(e.secretRef)
      ? 'secretRef'
      : isRecord(e.configMapRef)
        ? 'configMapRef'
        : undefined;
    if (!kind) return;
    const ref = e[kind] as Record<string, unknown>;
    const entry: EnvFromEntry = {
      index,
      kind,
      name: str(ref.name) ?? '',
      field: `${field}.envFrom[${index}]`,
    };
    if (typeof e.prefix === 'string' && e.prefix) entry.prefix = e.prefix;
    envFrom.push(entry);
  });
  return { env, envFrom };
}

export function securityUser(sc: unknown): { uid?: number; nonRoot?: boolean } {
  if (!isRecord(sc)) return {};
  const r: { uid?: number; nonRoot?: boolean } = {};
  if (typeof sc.runAsUser === 'number') r.uid = sc.runAsUser;
  if (typeof sc.runAsNonRoot === 'boolean') r.nonRoot = sc.runAsNonRoot;
  return r;
}

// --- paths ---------------------------------------------------------------------------------

export function normalizePath(p: string): string {
  const n = posix.normalize(p);
  if (n.length <= 1 || n.charCodeAt(n.length - 1) !== 47) return n;
  return n.slice(0, n.length - 1); // normalize leaves at most one trailing slash
}

/**
 * The mounts of one container as a tree of path segments, so that finding the mount a path
 * lands on costs the path's length, not the number of mounts (a `cp` with 16,000 operands in a
 * container with 10,000 mounts used to cost 160 million comparisons).
 */
interface MountNode {
  /** the first mount at exactly this path wins ties, as a scan in spec order would pick */
  mount?: MountInfo;
  children?: Map<string, MountNode>;
}

/** absolute mount paths, and relative ones (invalid in Kubernetes, but the object may hold them) */
interface MountTree {
  abs: MountNode;
  rel: MountNode;
}

const mountTrees = new WeakMap<readonly MountInfo[], MountTree>();

function mountTree(mounts: readonly MountInfo[]): MountTree {
  let tree = mountTrees.get(mounts);
  if (tree) return tree;
  tree = { abs: {}, rel: {} };
  for (const m of mounts) {
    let node = m.mountPath.startsWith('/') ? tree.abs : tree.rel;
    for (const seg of m.mountPath.split('/')) {
      if (seg === '') continue;
      node.children ??= new Map();
      let next = node.children.get(seg);
      if (!next) node.children.set(seg, (next = {}));
      node = next;
    }
    node.mount ??= m;
  }
  mountTrees.set(mounts, tree);
  return tree;
}

/** Below this many mounts a scan is cheaper than building the tree. */
const SCAN_MOUNTS = 16;

function scanMounts(p: string, mounts: readonly MountInfo[]): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const m of mounts) {
    if (p === m.mountPath || p.startsWith(m.mountPath === '/' ? '/' : `${m.mountPath}/`)) {
      if (!best || m.mountPath.length > best.mountPath.length) best = m;
    }
  }
  return best;
}

function located(p: string, best: MountInfo, rel: string): FileLocation {
  const volumePath = best.subPath && rel ? `${best.subPath}/${rel}` : best.subPath || rel;
  return { path: p, mount: best, volumePath, readOnly: best.readOnly };
}

export function resolvePath(path: string, mounts: readonly MountInfo[]): FileLocation {
  const p = normalizePath(path);
  if (mounts.length <= SCAN_MOUNTS) {
    const m = scanMounts(p, mounts);
    if (!m) return { path: p, readOnly: false };
    return located(
      p,
      m,
      p === m.mountPath ? '' : p.slice(m.mountPath.length + (m.mountPath === '/' ? 0 : 1)),
    );
  }
  const abs = p.startsWith('/');
  let node: MountNode | undefined = abs ? mountTree(mounts).abs : mountTree(mounts).rel;
  let best = node.mount; // only the `/` mount sits at the absolute root
  let bestEnd = 0; // index in p where the best mount's path ends
  for (let i = abs ? 1 : 0; node?.children && i <= p.length;) {
    let j = p.indexOf('/', i);
    if (j < 0) j = p.length;
    node = node.children.get(p.slice(i, j));
    if (node?.mount) {
      best = node.mount;
      bestEnd = j;
    }
    i = j + 1;
  }
  if (!best) return { path: p, readOnly: false };
  // bestEnd 0 is the `/` mount: everything after the leading slash is inside it
  return located(p, best, bestEnd === 0 ? p.slice(1) : p.slice(bestEnd + 1));
}

// Default config file paths: src/runner/facts.ts.
export { ROOT_CONFIG, NONROOT_CONFIG };
