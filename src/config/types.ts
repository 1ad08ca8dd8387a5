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
  /** set on every entry of a runner whose table has two keys folding to `token`: one entry per
   * candidate, since gitlab-runner may use either */
  ambiguousToken?: boolean;
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

/**
 * Something in a config that parses as TOML but that gitlab-runner cannot load, or loads in a way
 * nobody can predict. Messages name key paths (user text: redact before printing) and lines.
 */
export interface LoadProblem {
  /** `unloadable`: gitlab-runner stops with a decode error. `ambiguous`: two keys fold to one
   * field and which value the runner uses changes from start to start (Go map order). */
  kind: 'unloadable' | 'ambiguous';
  /** one sentence fragment, e.g. "`runners` is a table, not an array of [[runners]] tables" */
  reason: string;
  /** 1-based line of the (first) offending key */
  line: number;
  /** for `ambiguous`: every line that names the field */
  lines?: number[];
}

export type ParsedRunnerConfig =
  | {
      ok: true;
      /** gitlab-runner would read this as its config: a top-level key that decodes into
       * `runners`, or a global key only config.toml has */
      runnerConfig: boolean;
      /** reasons gitlab-runner refuses the file or reads it unpredictably (deny) */
      problems: LoadProblem[];
      /** top-level keys other than `runners` (concurrent, check_interval, log_level, …) */
      globals: Record<string, unknown>;
      runners: RunnerEntry[];
      unknownKeys: UnknownKey[];
      /** set when more unknown keys were found than are listed */
      unknownKeysTruncated?: boolean;
    }
  | {
      ok: false;
      error: TomlError;
      /** decided from the text, since there is no document: a header or key that folds to `runners` */
      runnerConfig: boolean;
    };
