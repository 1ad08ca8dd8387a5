/** One `[[runners]]` entry of a config.toml, with the lines a person needs to find it. */
export interface RunnerEntry {
  /** 0-based position among [[runners]] */
  index: number;
  /** 1-based line of the `[[runners]]` header */
  line: number;
  name?: string;
  url?: string;
  executor?: string;
  /** raw string value of `token` (undefined when the key is absent or not a string) */
  token?: string;
  /** 1-based line of the `token` key, when present */
  tokenLine?: number;
  /** `token_expires_at` as written (string or Date rendering), when present */
  tokenExpiresAt?: string;
}

export interface UnknownKey {
  /** dotted path as written, e.g. `runners.state_file` or `runner.kubernetes` */
  path: string;
  line: number;
  /** nearest known key name, when one is close enough; a dotted path (`runners.executor`) when the
   * key is known in an enclosing table, i.e. it was written below a sub-table header by mistake */
  suggestion?: string;
  /** 0-based `[[runners]]` index when the key sits inside a runner entry */
  runnerIndex?: number;
}

export interface TomlError {
  message: string;
  line: number;
  column: number;
}

export type ParsedRunnerConfig =
  | {
      ok: true;
      /** top-level keys other than `runners` (concurrent, check_interval, log_level, …) */
      globals: Record<string, unknown>;
      runners: RunnerEntry[];
      unknownKeys: UnknownKey[];
      /** set when more unknown keys were found than are listed */
      unknownKeysTruncated?: boolean;
    }
  | { ok: false; error: TomlError };
