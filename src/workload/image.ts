import { basename } from './shell.js';
import { arr, str } from './pod.js';

/**
 * Which images and binaries are gitlab-runner. Facts: the official images' names
 * (gitlab/gitlab-runner, registry.gitlab.com/gitlab-org/gitlab-runner and the -ocp/-ubi
 * variants) and their Dockerfile (ENTRYPOINT /entrypoint, which execs `gitlab-runner "$@"`).
 */

/** `gitlab/gitlab-runner`, `registry.gitlab.com/gitlab-org/gitlab-runner`, `…/gitlab-runner-ocp`, `gitlab-ci-multi-runner`; not the helper image. */
const RUNNER_REPO = /^(gitlab-ci-multi-runner|gitlab-runner(-ocp|-ubi|-ubi-fips)?)$/;

export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

export function parseImage(image: string): ImageRef {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const r: ImageRef = { repository: rest };
  if (tag !== undefined) r.tag = tag;
  if (digest !== undefined) r.digest = digest;
  return r;
}

export function isRunnerImage(image: string | undefined): boolean {
  if (!image || !image.includes('runner')) return false;
  return RUNNER_REPO.test(basename(parseImage(image).repository));
}

/** Non-root UBI/OpenShift runner images (USER 1001 in their Dockerfile). */
export function nonRootImage(image: string | undefined): boolean {
  return !!image && /-(ocp|ubi)/.test(basename(parseImage(image).repository));
}

const RUNNER_BIN = /^gitlab-(ci-multi-)?runner(-linux-[a-z0-9]+)?(\.exe)?$/;

export function isRunnerBinary(word: string, runnerImage: boolean): boolean {
  const b = basename(word);
  if (RUNNER_BIN.test(b)) return true;
  // the official image's /entrypoint execs `gitlab-runner "$@"`
  return runnerImage && word === '/entrypoint';
}

/** Cheap pre-check before any parsing: could this container be a runner at all? */
export function mentionsRunner(c: Record<string, unknown>): boolean {
  const image = str(c.image);
  if (isRunnerImage(image)) return true;
  for (const k of ['command', 'args'] as const) {
    for (const v of arr(c[k]))
      if (
        typeof v === 'string' &&
        (v.includes('gitlab-runner') || v.includes('gitlab-ci-multi-runner'))
      )
        return true;
  }
  return false;
}
