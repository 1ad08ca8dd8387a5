/**
 * What a runner workload (Deployment, StatefulSet, DaemonSet, bare Pod, …) does with its
 * config and tokens, read from the pod spec alone. Pure data; produced by workload.ts.
 * Facts: docs/facts.md §2 (what gitlab-runner does), §4 (how people deploy it).
 */

/** Loosely typed pod spec: the objects come from JSON/YAML and are validated as they are read. */
export type PodSpecLike = Record<string, unknown>;

export interface PodSpecRef {
  spec: PodSpecLike;
  pointer: '/spec/template/spec' | '/spec';
  kind: string;
}

/** A lookup result from the Kubernetes API for one ConfigMap/Secret (Secret values already decoded). */
export type LookupResult = Record<string, string> | 'not-found' | 'forbidden' | 'error';

/** ConfigMaps/Secrets the pipeline fetched, keyed by name (namespace-local to the workload). */
export interface ResolvedRefs {
  configMaps: Map<string, LookupResult>;
  secrets: Map<string, LookupResult>;
}

export type VolumeKind =
  | 'configMap'
  | 'secret'
  | 'projected'
  | 'emptyDir'
  | 'hostPath'
  | 'persistentVolumeClaim'
  | 'downwardAPI'
  | 'other';

export interface KeyToPath {
  key: string;
  path: string;
}

/** One ConfigMap or Secret that contributes files to a volume. */
export interface VolumeDataSource {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  /** `items` as written; undefined = every key becomes a file named after the key */
  items?: KeyToPath[];
  optional?: boolean;
}

export interface VolumeInfo {
  name: string;
  kind: VolumeKind;
  /** configMap/secret: one entry; projected: one per configMap/secret source */
  sources: VolumeDataSource[];
  /**
   * ConfigMap, Secret, projected and downwardAPI volumes are always mounted read-only by the
   * kubelet since Kubernetes 1.9.4 (CVE-2017-1002101), whatever `readOnly` says.
   */
  alwaysReadOnly: boolean;
}

export interface MountInfo {
  index: number;
  name: string;
  mountPath: string;
  subPath?: string;
  /** the `readOnly` flag as written */
  readOnlyFlag: boolean;
  /** effective: flag set, or the volume kind is always read-only */
  readOnly: boolean;
  /** undefined when no volume of that name exists */
  volume?: VolumeInfo;
  field: string;
}

export type EnvSource =
  | { type: 'value'; value: string }
  | { type: 'secretKeyRef'; name: string; key: string; optional?: boolean }
  | { type: 'configMapKeyRef'; name: string; key: string; optional?: boolean }
  | { type: 'fieldRef' | 'resourceFieldRef' | 'other' };

export interface EnvEntry {
  index: number;
  name: string;
  source: EnvSource;
  field: string;
}

export interface EnvFromEntry {
  index: number;
  kind: 'secretRef' | 'configMapRef';
  name: string;
  prefix?: string;
  field: string;
}

/** How a flag's (or env's) value is given. */
export type ValueRef =
  | { kind: 'literal'; value: string }
  /** `$VAR`, `${VAR}` (shell) or `$(VAR)` (Kubernetes expansion) */
  | { kind: 'env'; variable: string; entry?: EnvEntry; fromEnvFrom: boolean }
  /** anything else: command substitution, partial expansion, concatenation */
  | { kind: 'dynamic'; text: string };

export interface ParsedFlag {
  /** canonical long name without dashes: `registration-token`, `config`, … */
  name: string;
  /** as written, e.g. `-r`, `--config` */
  given: string;
  value?: ValueRef;
}

export type Subcommand = 'run' | 'register' | 'unregister' | 'verify' | 'other';

export interface Invocation {
  subcommand: Subcommand;
  /** the subcommand word as written (`run`, `list`, …); '' when none */
  verb: string;
  flags: ParsedFlag[];
  /** where it was found */
  origin: 'argv' | 'script' | 'image-default' | 'preStop' | 'postStart';
  /** order inside the container's main process (scripts run top to bottom) */
  order: number;
}

export interface RegisterInfo {
  invocation: Invocation;
  registrationToken?: ValueRef;
  token?: ValueRef;
  templateConfig?: ValueRef;
  url?: ValueRef;
  /** the file register writes: --config / -c / CONFIG_FILE / default; undefined when not known from the manifest */
  configPath?: string;
  /** reserved options set by flag or env: only the ones that change the default make register fatal */
  reserved: ReservedOption[];
}

export interface ReservedOption {
  name: string; // flag name, e.g. `locked`
  via: 'flag' | 'env';
  given: string; // `--locked=false` or `REGISTER_LOCKED`
  value?: ValueRef;
  /** true when the value is known to differ from the default (which is what makes register fatal) */
  nonDefault: boolean | 'unknown';
  field?: string;
}

/** A location of a file as a container sees it, mapped to the volume that holds it. */
export interface FileLocation {
  path: string;
  mount?: MountInfo;
  /** path inside the volume (after subPath); undefined when on the container's own filesystem */
  volumePath?: string;
  readOnly: boolean;
}

export interface CopyOp {
  /** undefined when the source is not a plain path (generated content, `$(…)`) */
  from?: FileLocation;
  to: FileLocation;
  /** copy of a whole directory (`cp -r /configmaps/. /etc/gitlab-runner/`) */
  dir: boolean;
  order: number;
}

export interface ContainerAnalysis {
  role: 'initContainer' | 'container';
  index: number;
  name: string;
  /** JSON pointer, e.g. `/spec/template/spec/initContainers/0` */
  pointer: string;
  /** readable, e.g. `spec.template.spec.initContainers[0]` */
  field: string;
  image?: string;
  runnerImage: boolean;
  /** which field holds the argv that was parsed */
  argvField?: 'command' | 'args';
  /** the container's image or command is gitlab-runner */
  isRunner: boolean;
  /** runs a script we cannot see (a file from a volume), so absence of a step proves nothing */
  opaque: boolean;
  invocations: Invocation[];
  lifecycle: Invocation[];
  registers: RegisterInfo[];
  env: EnvEntry[];
  envFrom: EnvFromEntry[];
  mounts: MountInfo[];
  copies: CopyOp[];
  nonRoot: boolean;
  /** the config file `run` reads, when the container runs `run` */
  runConfig?: FileLocation;
  /** the directory of that file (where .runner_system_id is written) */
  runConfigDir?: FileLocation;
  /**
   * Only when the container runs `run`: does a `register` (in an initContainer, or earlier in
   * the same script) write the file `run` reads? 'unknown' when a script we cannot see could.
   */
  registersBeforeRun?: boolean | 'unknown';
  /** Only when the container runs `run`: copies into that file before `run` starts (from a ConfigMap mount to an emptyDir, …) */
  configCopiedFrom?: { from?: FileLocation; container: number }[];
}

export interface ConfigSourceRef {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  key: string;
  optional?: boolean;
  /** the container (index into WorkloadAnalysis.containers) that runs `run` on it */
  container: number;
  /** mounted where `run` reads it, or copied there first */
  via: 'mount' | 'copy';
}

export interface WorkloadAnalysis {
  kind: string;
  /** `/spec/template/spec` or `/spec` */
  podSpecPointer: string;
  /** readable prefix: `spec.template.spec` or `spec` */
  fieldPrefix: string;
  /** spec.replicas (default 1 for Deployment/StatefulSet); undefined for DaemonSet (one per node) and Pod (1) */
  replicas?: number;
  /** DaemonSet: one pod per node, all sharing the config */
  perNode: boolean;
  volumes: VolumeInfo[];
  /** init containers first, then containers, in spec order */
  containers: ContainerAnalysis[];
  /** ConfigMaps/Secrets that provide the config file some container's `run` reads */
  referencedConfigSources: ConfigSourceRef[];
  /** ConfigMaps/Secrets that feed env of runner containers (secretKeyRef, configMapKeyRef, envFrom): token slots */
  referencedEnvSources: { kind: 'ConfigMap' | 'Secret'; name: string }[];
}
