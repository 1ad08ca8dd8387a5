import type { ObjectRef } from '../../findings/types.js';
import { isRecord } from '../../util/is-record.js';
import {
  checkChartValues,
  checkChartValuesText,
  type Seg,
  type ValuesEvaluation,
} from './check.js';

/**
 * GitOps objects that carry gitlab-runner chart values into a cluster, checked when they are
 * applied, before anything renders. Pure.
 * - Flux `HelmRelease` (helm.toolkit.fluxcd.io/v2): `spec.chart.spec.chart` names the chart,
 *   `spec.values` holds the values (valuesFrom points at ConfigMaps/Secrets: not read here).
 * - Argo CD `Application` (argoproj.io/v1alpha1): `spec.source` or `spec.sources[]`, each with
 *   `chart` (Helm repository) or `path` (git), and `helm.values` (a YAML string) and/or
 *   `helm.valuesObject`. `ApplicationSet` has the same under `spec.template.spec`.
 */

export const GITOPS_KINDS = new Set(['HelmRelease', 'Application', 'ApplicationSet']);

const CHART = 'gitlab-runner';

function isRunnerChart(name: unknown): boolean {
  if (typeof name !== 'string') return false;
  const base = name.replace(/\/+$/, '').split('/').pop() ?? '';
  return base === CHART;
}

function groupOf(obj: Record<string, unknown>): string | undefined {
  return typeof obj.apiVersion === 'string' ? obj.apiVersion.split('/')[0] : undefined;
}

function merge(into: ValuesEvaluation, from: ValuesEvaluation | undefined): void {
  if (!from) return;
  into.findings.push(...from.findings);
  into.credentials.push(...from.credentials);
  into.notes.push(...from.notes);
}

function dotted(path: readonly Seg[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

function checkArgoSources(
  spec: unknown,
  base: Seg[],
  object: ObjectRef,
  host: string,
  out: ValuesEvaluation,
): boolean {
  if (!isRecord(spec)) return false;
  const sources: [Seg[], unknown][] = [];
  if (isRecord(spec.source)) sources.push([[...base, 'source'], spec.source]);
  if (Array.isArray(spec.sources))
    spec.sources.forEach((s, i) => sources.push([[...base, 'sources', i], s]));
  let runner = false;
  for (const [path, src] of sources) {
    if (
      !isRecord(src) ||
      !(isRunnerChart(src.chart) || (src.chart === undefined && isRunnerChart(src.path)))
    )
      continue;
    runner = true;
    const helm = src.helm;
    if (!isRecord(helm)) continue;
    if (typeof helm.values === 'string') {
      const textField = dotted([...path, 'helm', 'values']);
      const ev = checkChartValuesText(helm.values, { object, host, textField });
      if (ev) merge(out, ev);
      else if (helm.values.trim() !== '')
        out.notes.push(`${textField}: not read, not YAML as it stands (a generator template?)`);
    }
    if (isRecord(helm.valuesObject))
      merge(
        out,
        checkChartValues(helm.valuesObject, {
          object,
          host,
          prefix: [...path, 'helm', 'valuesObject'],
        }),
      );
  }
  return runner;
}

/** Findings for a GitOps object; undefined when it does not deploy the gitlab-runner chart. */
export function checkGitopsObject(
  obj: Record<string, unknown>,
  kind: string,
  object: ObjectRef,
): ValuesEvaluation | undefined {
  const out: ValuesEvaluation = { findings: [], credentials: [], notes: [] };
  const group = groupOf(obj);
  const spec = obj.spec;
  if (!isRecord(spec)) return undefined;
  if (kind === 'HelmRelease') {
    if (group !== undefined && group !== 'helm.toolkit.fluxcd.io') return undefined;
    const chart =
      isRecord(spec.chart) && isRecord(spec.chart.spec) ? spec.chart.spec.chart : undefined;
    if (!isRunnerChart(chart)) return undefined;
    if (isRecord(spec.values))
      merge(
        out,
        checkChartValues(spec.values, {
          object,
          host: 'this HelmRelease',
          prefix: ['spec', 'values'],
        }),
      );
    return out;
  }
  if (group !== undefined && group !== 'argoproj.io') return undefined;
  if (kind === 'Application')
    return checkArgoSources(spec, ['spec'], object, host(kind), out) ? out : undefined;
  if (kind === 'ApplicationSet') {
    const tpl = isRecord(spec.template) ? spec.template.spec : undefined;
    return checkArgoSources(tpl, ['spec', 'template', 'spec'], object, host(kind), out)
      ? out
      : undefined;
  }
  return undefined;
}

function host(kind: string): string {
  return `this ${kind}`;
}
