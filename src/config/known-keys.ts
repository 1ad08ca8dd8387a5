import { foldKey } from './fold.js';

/**
 * The config.toml keys gitlab-runner knows, as a tree that mirrors its Go structs.
 *
 * Source: the `toml:"…"` tags of the structs in gitlab-runner `common/config.go`
 * (gitlabhq/gitlab-runner; read from two stored versions: commit
 * 006746c0f898eff63f18361c62859399f2a3c635 and a later one that adds Labels, Experimental,
 * LogOptions, service_* Docker limits, autoscaler state_storage and moves SshConfig into
 * common), plus the embedded/linked structs: `helpers/docker/credentials.go` (host,
 * tls_cert_path, tls_verify), `helpers/ssh/ssh_config.go`, `referees/referees.go` and
 * `referees/metrics.go`. Fields without a toml tag (DockerMachine, DockerMachineAutoscaling)
 * are decoded under their Go field name.
 *
 * gitlab-runner decodes with BurntSushi/toml, which matches a key to a field exactly first and
 * then case-insensitively, so lookups here are case-insensitive: `type = "s3"` under
 * `[runners.cache]` works in the runner and must not be reported.
 *
 * Keys that older runner versions knew and real, still-deployed configs carry are listed as
 * `legacy`; reporting them as unknown would be a false positive on a config that works (or
 * worked) and false positives are worse than misses here.
 */

/** `leaf`: a scalar or an array of scalars. `map`: a table whose keys are free-form (labels,
 * node_selector, tmpfs, plugin_config, …) or whose schema we do not track — never checked. */
export type KeyKind = 'leaf' | 'map' | TableSchema;

export interface TableSchema {
  readonly kind: 'table';
  /** lower-cased key → canonical spelling and kind */
  readonly byLower: ReadonlyMap<
    string,
    { readonly name: string; readonly kind: KeyKind; readonly legacy: boolean }
  >;
  /** canonical names, current keys first, for suggestions */
  readonly names: readonly string[];
}

type Fields = Record<string, KeyKind>;

function table(fields: Fields, legacy: Fields = {}): TableSchema {
  const byLower = new Map<string, { name: string; kind: KeyKind; legacy: boolean }>();
  const names: string[] = [];
  for (const [name, kind] of Object.entries(fields)) {
    byLower.set(name.toLowerCase(), { name, kind, legacy: false });
    names.push(name);
  }
  for (const [name, kind] of Object.entries(legacy)) {
    if (!byLower.has(name.toLowerCase()))
      byLower.set(name.toLowerCase(), { name, kind, legacy: true });
    names.push(name);
  }
  return { kind: 'table', byLower, names };
}

const L = 'leaf' as const;
const M = 'map' as const;

const leaves = (...names: string[]): Fields => Object.fromEntries(names.map((n) => [n, L]));

// --- shared sub-structs -------------------------------------------------------------------

const SERVICE = table(leaves('name', 'alias', 'command', 'entrypoint', 'environment'));

const NODE_SELECTOR_REQUIREMENT = table(leaves('key', 'operator', 'values'));
const NODE_SELECTOR_TERM = table({
  match_expressions: NODE_SELECTOR_REQUIREMENT,
  match_fields: NODE_SELECTOR_REQUIREMENT,
});
const LABEL_SELECTOR = table({ match_labels: M, match_expressions: NODE_SELECTOR_REQUIREMENT });
const POD_AFFINITY_TERM = table({
  label_selector: LABEL_SELECTOR,
  namespaces: L,
  topology_key: L,
  namespace_selector: LABEL_SELECTOR,
});
const POD_AFFINITY = table({
  required_during_scheduling_ignored_during_execution: POD_AFFINITY_TERM,
  preferred_during_scheduling_ignored_during_execution: table({
    weight: L,
    pod_affinity_term: POD_AFFINITY_TERM,
  }),
});
const AFFINITY = table({
  node_affinity: table({
    required_during_scheduling_ignored_during_execution: table({
      node_selector_terms: NODE_SELECTOR_TERM,
    }),
    preferred_during_scheduling_ignored_during_execution: table({
      weight: L,
      preference: NODE_SELECTOR_TERM,
    }),
  }),
  pod_affinity: POD_AFFINITY,
  pod_anti_affinity: POD_AFFINITY,
});

const CONTAINER_SECURITY_CONTEXT = table({
  capabilities: table(leaves('add', 'drop')),
  ...leaves(
    'privileged',
    'run_as_user',
    'run_as_group',
    'run_as_non_root',
    'read_only_root_filesystem',
    'allow_privilege_escalation',
    'selinux_type',
    'proc_mount',
  ),
});

const POD_SECURITY_CONTEXT = table(
  leaves(
    'fs_group',
    'run_as_group',
    'run_as_non_root',
    'run_as_user',
    'supplemental_groups',
    'selinux_type',
  ),
);

const VOLUME_BASE = ['name', 'mount_path', 'sub_path'];
const K8S_VOLUMES = table({
  host_path: table(leaves(...VOLUME_BASE, 'read_only', 'host_path', 'mount_propagation')),
  pvc: table(leaves(...VOLUME_BASE, 'read_only', 'mount_propagation')),
  config_map: table({ ...leaves(...VOLUME_BASE, 'read_only'), items: M }),
  secret: table({ ...leaves(...VOLUME_BASE, 'read_only'), items: M }),
  empty_dir: table(leaves(...VOLUME_BASE, 'medium', 'size_limit')),
  csi: table({ ...leaves(...VOLUME_BASE, 'driver', 'fs_type', 'read_only'), volume_attributes: M }),
});

const LIFECYCLE_HANDLER = table({
  exec: table(leaves('command')),
  http_get: table({
    ...leaves('host', 'path', 'port', 'scheme'),
    http_headers: table(leaves('name', 'value')),
  }),
  tcp_socket: table(leaves('host', 'port')),
});

/** resource keys that come in limit/request × overwrite_max_allowed variants */
function k8sResources(prefix: string): Fields {
  const out: Fields = {};
  for (const res of ['cpu', 'memory', 'ephemeral_storage']) {
    for (const kind of ['limit', 'request']) {
      out[`${prefix}${res}_${kind}`] = L;
      out[`${prefix}${res}_${kind}_overwrite_max_allowed`] = L;
    }
  }
  return out;
}

const KUBERNETES = table(
  {
    ...leaves(
      'host',
      'context',
      'cert_file',
      'key_file',
      'ca_file',
      'bearer_token_overwrite_allowed',
      'bearer_token',
      'image',
      'namespace',
      'namespace_overwrite_allowed',
      'namespace_per_job',
      'privileged',
      'runtime_class_name',
      'allow_privilege_escalation',
    ),
    ...k8sResources(''),
    ...k8sResources('service_'),
    ...k8sResources('helper_'),
    ...leaves(
      'allowed_images',
      'allowed_pull_policies',
      'allowed_services',
      'allowed_users',
      'allowed_groups',
      'pull_policy',
      'node_selector_overwrite_allowed',
      'node_tolerations_overwrite_allowed',
      'image_pull_secrets',
      'use_service_account_image_pull_secrets',
      'helper_image',
      'helper_image_flavor',
      'helper_image_autoset_arch_and_os',
      'pod_termination_grace_period_seconds',
      'cleanup_grace_period_seconds',
      'cleanup_resources_timeout',
      'poll_interval',
      'poll_timeout',
      'resource_availability_check_max_attempts',
      'retry_limit',
      'retry_backoff_max',
      'pod_labels_overwrite_allowed',
      'scheduler_name',
      'service_account',
      'service_account_overwrite_allowed',
      'automount_service_account_token',
      'pod_annotations_overwrite_allowed',
      'cap_add',
      'cap_drop',
      'dns_policy',
      'priority_class_name',
      'logs_base_dir',
      'scripts_base_dir',
      'print_pod_warning_events',
    ),
    node_selector: M,
    node_tolerations: M,
    retry_limits: M,
    pod_labels: M,
    pod_annotations: M,
    affinity: AFFINITY,
    pod_security_context: POD_SECURITY_CONTEXT,
    init_permissions_container_security_context: CONTAINER_SECURITY_CONTEXT,
    build_container_security_context: CONTAINER_SECURITY_CONTEXT,
    helper_container_security_context: CONTAINER_SECURITY_CONTEXT,
    service_container_security_context: CONTAINER_SECURITY_CONTEXT,
    volumes: K8S_VOLUMES,
    host_aliases: table(leaves('ip', 'hostnames')),
    services: SERVICE,
    dns_config: table({ nameservers: L, searches: L, options: table(leaves('name', 'value')) }),
    container_lifecycle: table({ post_start: LIFECYCLE_HANDLER, pre_stop: LIFECYCLE_HANDLER }),
    pod_spec: table(leaves('name', 'patch_path', 'patch', 'patch_type')),
  },
  {
    // removed in favour of pod_termination_grace_period_seconds / cleanup_grace_period_seconds
    terminationGracePeriodSeconds: L,
    // pre-1.9 names, still found in generated configs (corpus lukaszlach-docker-empty-k8s-30hex.toml)
    ...leaves('cpus', 'memory', 'service_cpus', 'service_memory'),
  },
);

const DOCKER = table({
  // helpers/docker credentials, embedded in DockerConfig
  ...leaves('host', 'tls_cert_path', 'tls_verify'),
  ...leaves(
    'hostname',
    'image',
    'runtime',
    'memory',
    'memory_swap',
    'memory_reservation',
    'cgroup_parent',
    'cpuset_cpus',
    'cpuset_mems',
    'cpus',
    'cpu_shares',
    'dns',
    'dns_search',
    'privileged',
    'services_privileged',
    'disable_entrypoint_overwrite',
    'user',
    'allowed_users',
    'group_add',
    'userns_mode',
    'cap_add',
    'cap_drop',
    'oom_kill_disable',
    'oom_score_adjust',
    'security_opt',
    'services_security_opt',
    'devices',
    'device_cgroup_rules',
    'gpus',
    'disable_cache',
    'volumes',
    'volume_driver',
    'cache_dir',
    'extra_hosts',
    'volumes_from',
    'network_mode',
    'ipcmode',
    'mac_address',
    'links',
    'services_limit',
    'service_memory',
    'service_memory_swap',
    'service_memory_reservation',
    'service_cgroup_parent',
    'service_slot_cgroup_template',
    'service_cpuset_cpus',
    'service_cpus',
    'service_cpu_shares',
    'service_gpus',
    'wait_for_services_timeout',
    'allowed_images',
    'allowed_privileged_images',
    'allowed_privileged_services',
    'allowed_pull_policies',
    'allowed_services',
    'pull_policy',
    'isolation',
    'shm_size',
    'helper_image',
    'helper_image_flavor',
    'enable_ipv6',
    'network_mtu',
  ),
  services: SERVICE,
  services_devices: M,
  volume_driver_ops: M,
  tmpfs: M,
  services_tmpfs: M,
  sysctls: M,
  container_labels: M,
  ulimit: M,
  log_options: M,
});

const CONNECTOR_CONFIG = table(
  leaves(
    'os',
    'arch',
    'protocol',
    'protocol_port',
    'username',
    'password',
    'key_path',
    'use_static_credentials',
    'keepalive',
    'timeout',
    'use_external_addr',
  ),
);

const AUTOSCALER = table({
  ...leaves(
    'capacity_per_instance',
    'max_use_count',
    'max_instances',
    'plugin',
    'instance_ready_command',
    'instance_acquire_timeout',
    'update_interval',
    'update_interval_when_expecting',
    'deletion_retry_interval',
    'shutdown_deletion_interval',
    'shutdown_deletion_retries',
    'failure_threshold',
    'reservation_throttling',
    'log_internal_ip',
    'log_external_ip',
    'delete_instances_on_shutdown',
    'instance_operation_time_buckets',
    'instance_creation_time_buckets',
    'instance_is_running_time_buckets',
    'instance_deletion_time_buckets',
    'instance_readiness_time_buckets',
    'instance_life_duration_buckets',
  ),
  plugin_config: M,
  connector_config: CONNECTOR_CONFIG,
  policy: table(
    leaves(
      'periods',
      'timezone',
      'idle_count',
      'idle_time',
      'scale_factor',
      'scale_factor_limit',
      'preemptive_mode',
    ),
  ),
  scale_throttle: table(leaves('limit', 'burst')),
  vm_isolation: table({
    ...leaves('enabled', 'nesting_host', 'image'),
    nesting_config: M,
    connector_config: CONNECTOR_CONFIG,
  }),
  state_storage: table(leaves('enabled', 'dir', 'keep_instance_with_acquisitions')),
});

const MACHINE = table({
  ...leaves(
    'MaxGrowthRate',
    'IdleCount',
    'IdleScaleFactor',
    'IdleCountMin',
    'IdleTime',
    'MaxBuilds',
    'MachineDriver',
    'MachineName',
    'MachineOptions',
    'MachineOptionsWithName',
    'OffPeakPeriods',
    'OffPeakTimezone',
    'OffPeakIdleCount',
    'OffPeakIdleTime',
  ),
  autoscaling: table(
    leaves('Periods', 'Timezone', 'IdleCount', 'IdleScaleFactor', 'IdleCountMin', 'IdleTime'),
  ),
});

const S3_KEYS = [
  'ServerAddress',
  'AccessKey',
  'SecretKey',
  'BucketName',
  'BucketLocation',
  'Insecure',
];

const CACHE = table(
  {
    ...leaves('Type', 'Path', 'Shared', 'MaxUploadedArchiveSize'),
    s3: table(
      leaves(
        ...S3_KEYS,
        'SessionToken',
        'AuthenticationType',
        'ServerSideEncryption',
        'ServerSideEncryptionKeyID',
        'DualStack',
        'PathStyle',
        'Accelerate',
        'RoleARN',
        'UploadRoleARN',
      ),
    ),
    gcs: table(leaves('AccessID', 'PrivateKey', 'CredentialsFile', 'BucketName', 'UniverseDomain')),
    azure: table(leaves('AccountName', 'AccountKey', 'ContainerName', 'StorageDomain')),
  },
  // S3 settings sat directly in [runners.cache] before [runners.cache.s3] existed (runner < 11.3)
  leaves(...S3_KEYS),
);

const RUNNER = table(
  {
    // RunnerConfig
    ...leaves(
      'name',
      'limit',
      'output_limit',
      'request_concurrency',
      'strict_check_interval',
      'unhealthy_requests_limit',
      'unhealthy_interval',
      'job_status_final_update_retry_limit',
    ),
    // RunnerCredentials (the hyphenated names are the real tags)
    ...leaves(
      'url',
      'id',
      'token',
      'token_obtained_at',
      'token_expires_at',
      'tls-ca-file',
      'tls-cert-file',
      'tls-key-file',
    ),
    // RunnerSettings
    ...leaves(
      'executor',
      'builds_dir',
      'cache_dir',
      'clone_url',
      'environment',
      'proxy_exec',
      'pre_get_sources_script',
      'post_get_sources_script',
      'pre_build_script',
      'post_build_script',
      'debug_trace_disabled',
      'safe_directory_checkout',
      'clean_git_config',
      'shell',
      'use_slot_cgroups',
      'slot_cgroup_template',
      'step_runner_image',
    ),
    labels: M,
    feature_flags: M,
    // runner.Monitoring: schema not tracked here, so never checked
    monitoring: M,
    custom_build_dir: table(leaves('enabled')),
    referees: table({ metrics: table(leaves('prometheus_address', 'query_interval', 'queries')) }),
    cache: CACHE,
    instance: table(leaves('allowed_images', 'use_common_build_dir')),
    ssh: table(
      leaves(
        'user',
        'password',
        'host',
        'port',
        'identity_file',
        'disable_strict_host_key_checking',
        'known_hosts_file',
      ),
    ),
    docker: DOCKER,
    parallels: table(
      leaves('base_name', 'template_name', 'disable_snapshots', 'time_server', 'allowed_images'),
    ),
    virtualbox: table(
      leaves(
        'base_name',
        'base_snapshot',
        'base_folder',
        'disable_snapshots',
        'allowed_images',
        'start_type',
      ),
    ),
    machine: MACHINE,
    kubernetes: KUBERNETES,
    custom: table(
      leaves(
        'config_exec',
        'config_args',
        'config_exec_timeout',
        'prepare_exec',
        'prepare_args',
        'prepare_exec_timeout',
        'run_exec',
        'run_args',
        'cleanup_exec',
        'cleanup_args',
        'cleanup_exec_timeout',
        'graceful_kill_timeout',
        'force_kill_timeout',
      ),
    ),
    autoscaler: AUTOSCALER,
  },
  // deprecated in 15.x in favour of pre/post_get_sources_script, still honoured for years
  leaves('pre_clone_script', 'post_clone_script'),
);

/** Top level of config.toml (`Config` in common/config.go). */
export const CONFIG_SCHEMA: TableSchema = table(
  {
    ...leaves(
      'listen_address',
      'concurrent',
      'check_interval',
      'log_level',
      'log_format',
      'user',
      'sentry_dsn',
      'connection_max_age',
      'shutdown_timeout',
    ),
    session_server: table(leaves('listen_address', 'advertise_address', 'session_timeout')),
    labels: M,
    runners: RUNNER,
    experimental: table({
      usage_logger: table({
        ...leaves('enabled', 'log_dir', 'max_backup_files', 'max_rotation_age'),
        labels: M,
      }),
    }),
  },
  // renamed to listen_address in runner 10.x
  leaves('metrics_server'),
);

/** Schema of one `[[runners]]` entry. */
export const RUNNER_SCHEMA: TableSchema = RUNNER;

/** Look a key up the way BurntSushi/toml does: exact, then case-insensitive. */
export function lookupKey(
  schema: TableSchema,
  key: string,
): { name: string; kind: KeyKind; legacy: boolean } | undefined {
  return schema.byLower.get(foldKey(key));
}

/**
 * Optimal-string-alignment (restricted Damerau–Levenshtein) distance, case-insensitive, giving up
 * above `max` so that a megabyte-long key costs nothing.
 */
export function editDistance(a: string, b: string, max = 2): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  if (Math.abs(a.length - b.length) > max) return max + 1;
  if (a === b) return 0;
  const n = a.length;
  const m = b.length;
  let prev2 = new Array<number>(m + 1).fill(0);
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  let cur = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    let rowMin = cur[0];
    for (let j = 1; j <= m; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (
        i > 1 &&
        j > 1 &&
        a.charCodeAt(i - 1) === b.charCodeAt(j - 2) &&
        a.charCodeAt(i - 2) === b.charCodeAt(j - 1)
      ) {
        v = Math.min(v, prev2[j - 2]! + 1);
      }
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[m]!;
}

/**
 * The known key in `schema` closest to `key`, when it is within 2 edits and the edit does not
 * rewrite most of a short key (so `id` does not "suggest" `ip`-like noise for `xy`).
 */
export function nearestKey(schema: TableSchema, key: string): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const name of schema.names) {
    const d = editDistance(key, name, 2);
    if (d < bestD && d * 2 < Math.max(key.length, name.length)) {
      best = name;
      bestD = d;
      if (d === 1) break;
    }
  }
  return best;
}
