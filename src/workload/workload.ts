import type { ContainerAnalysis, WorkloadAnalysis } from './types.js';
import { isRecord } from '../util/is-record.js';
import { mentionsRunner } from './image.js';
import { arr, getPodSpec, readVolumes } from './pod.js';
import { configSources, envSources, runProvenance, type RunProvenance } from './provenance.js';
import { analyzeContainer } from './walk.js';

/**
 * Pod-spec analysis of runner workloads: the entry point. Facts: gitlab-runner
 * `commands/register.go` (flags, env names, reserved options), `commands/config.go` (default
 * config path), the official image's Dockerfile (ENTRYPOINT /entrypoint, CMD run …); the pieces
 * live in pod.ts, image.ts, command-line.ts, walk.ts and provenance.ts.
 */

// One analysis per object: validation, the lookups it asks for and the mutation of the same
// review all read the same (never modified) request object, so they share it.
const analyses = new WeakMap<object, WorkloadAnalysis | null>();

/** undefined when `obj` is not a workload or none of its containers is gitlab-runner. */
export function analyzeWorkload(obj: unknown): WorkloadAnalysis | undefined {
  if (!isRecord(obj)) return undefined;
  const hit = analyses.get(obj);
  if (hit !== undefined) return hit ?? undefined;
  const a = analyze(obj);
  analyses.set(obj, a ?? null);
  return a;
}

const copiedFrom = new WeakMap<
  RunProvenance['copies'],
  NonNullable<ContainerAnalysis['configCopiedFrom']>
>();

function analyze(obj: Record<string, unknown>): WorkloadAnalysis | undefined {
  const ps = getPodSpec(obj);
  if (!ps) return undefined;
  const spec = ps.spec;
  const init = arr(spec.initContainers).filter(isRecord);
  const main = arr(spec.containers).filter(isRecord);
  if (!init.some(mentionsRunner) && !main.some(mentionsRunner)) return undefined;

  const volumes = readVolumes(spec);
  const vmap = new Map(volumes.map((v) => [v.name, v]));
  const fieldPrefix = ps.pointer === '/spec' ? 'spec' : 'spec.template.spec';
  const containers: ContainerAnalysis[] = [];
  arr(spec.initContainers).forEach((c, i) => {
    if (isRecord(c))
      containers.push(
        analyzeContainer(
          c,
          'initContainer',
          i,
          containers.length,
          spec,
          vmap,
          ps.pointer,
          fieldPrefix,
        ),
      );
  });
  arr(spec.containers).forEach((c, i) => {
    if (isRecord(c))
      containers.push(
        analyzeContainer(c, 'container', i, containers.length, spec, vmap, ps.pointer, fieldPrefix),
      );
  });
  if (!containers.some((c) => c.isRunner)) return undefined;

  const s = obj.spec as Record<string, unknown>;
  const a: WorkloadAnalysis = {
    kind: ps.kind,
    podSpecPointer: ps.pointer,
    fieldPrefix,
    perNode: ps.kind === 'DaemonSet',
    volumes,
    containers,
    referencedConfigSources: [],
    referencedEnvSources: [],
  };
  if (ps.kind !== 'DaemonSet') {
    if (typeof s.replicas === 'number') a.replicas = s.replicas;
    else if (ps.kind === 'Pod') a.replicas = 1;
    else if (ps.kind !== 'Job') a.replicas = 1; // apiserver default
  }
  a.containers.forEach((c, ci) => {
    if (!c.runConfig) return;
    const prov = runProvenance(a, ci);
    c.registersBeforeRun = prov.registersFirst;
    // containers whose config gets the same copies share one list (1,200 runners × 2,500 copies)
    let from = copiedFrom.get(prov.copies);
    if (!from) {
      from = prov.copies.map(({ op, container }) =>
        op.from ? { from: op.from, container } : { container },
      );
      copiedFrom.set(prov.copies, from);
    }
    c.configCopiedFrom = from;
  });
  a.referencedConfigSources = configSources(a);
  a.referencedEnvSources = envSources(a);
  return a;
}
