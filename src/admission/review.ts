/**
 * AdmissionReview v1 wire contract (k8s.io/api/admission/v1). Pure: parse what the apiserver
 * sent, build what it accepts. The apiserver rejects a response whose uid differs from the
 * request's, or whose apiVersion/kind is not admission.k8s.io/v1 AdmissionReview.
 */

import { encodePatch, type JsonPatchOp } from '../mutation/patch.js';
import type { Verdict } from '../policy/decide.js';
import { isRecord } from '../util/is-record.js';

export const API_VERSION = 'admission.k8s.io/v1';
export const KIND = 'AdmissionReview';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
const OPERATIONS: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

export interface GVK {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GVK;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  object?: unknown;
  oldObject?: unknown;
  dryRun: boolean;
  userInfo?: { username?: string };
}

export interface AdmissionStatus {
  code: number;
  reason?: string;
  message: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  warnings?: string[];
  patchType?: 'JSONPatch';
  patch?: string;
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewResponse {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  response: AdmissionResponse;
}

export type ParseResult = { ok: true; request: AdmissionRequest } | { ok: false; reason: string };

/** One-line reasons: they go back as the 400 body and into logs. */
export function parseReview(body: unknown): ParseResult {
  if (!isRecord(body)) return { ok: false, reason: 'body is not a JSON object' };
  if (body.kind !== KIND)
    return { ok: false, reason: `kind must be "${KIND}", got ${short(body.kind, KIND_SHAPE)}` };
  if (body.apiVersion !== API_VERSION) {
    return {
      ok: false,
      reason: `apiVersion must be "${API_VERSION}" (set admissionReviewVersions: [v1]), got ${short(body.apiVersion, API_VERSION_SHAPE)}`,
    };
  }
  const r = body.request;
  if (!isRecord(r)) return { ok: false, reason: 'request is missing' };
  if (typeof r.uid !== 'string' || r.uid === '')
    return { ok: false, reason: 'request.uid is missing' };
  if (r.uid.length > 256) return { ok: false, reason: 'request.uid is too long' };
  if (typeof r.operation !== 'string' || !OPERATIONS.includes(r.operation)) {
    return {
      ok: false,
      reason: `request.operation must be one of ${OPERATIONS.join(', ')}, got ${short(r.operation, OPERATION_SHAPE)}`,
    };
  }
  const k = r.kind;
  if (!isRecord(k) || typeof k.kind !== 'string' || typeof k.version !== 'string') {
    return { ok: false, reason: 'request.kind must be {group, version, kind}' };
  }
  const req: AdmissionRequest = {
    uid: r.uid,
    kind: { group: typeof k.group === 'string' ? k.group : '', version: k.version, kind: k.kind },
    operation: r.operation as Operation,
    dryRun: r.dryRun === true,
  };
  if (isRecord(r.resource)) req.resource = r.resource as AdmissionRequest['resource'] & object;
  if (typeof r.subResource === 'string') req.subResource = r.subResource;
  if (typeof r.name === 'string') req.name = r.name;
  if (typeof r.namespace === 'string') req.namespace = r.namespace;
  if (r.object !== undefined && r.object !== null) req.object = r.object;
  if (r.oldObject !== undefined && r.oldObject !== null) req.oldObject = r.oldObject;
  if (isRecord(r.userInfo) && typeof r.userInfo.username === 'string')
    req.userInfo = { username: r.userInfo.username };
  return { ok: true, request: req };
}

/**
 * Echo a wrong value only when it has the shape of what belongs there; anything else may be a
 * secret a caller put in the wrong field, so only its type and length are told.
 */
const API_VERSION_SHAPE = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*\/)?v\d+(?:(?:alpha|beta)\d+)?$/;
// A kind is a few CamelCase words (`AdmissionReviewList`); random token text almost never is.
const KIND_SHAPE = /^(?:[A-Z][a-z]+){1,5}$/;
const OPERATION_SHAPE = /^[A-Z]{1,10}$/;

function short(x: unknown, shape: RegExp): string {
  if (x === undefined) return 'nothing';
  if (typeof x !== 'string') return x === null ? 'null' : typeof x;
  return shape.test(x) ? JSON.stringify(x) : `a string of ${x.length} characters`;
}

export function reviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: API_VERSION, kind: KIND, response };
}

// The response helpers (like controller-runtime's admission.Allowed/Denied/Patched): every
// AdmissionResponse the webhooks send is built here, so the wire shape lives in one file.

/** Optional parts of an answer; empty warnings are left out (kubectl would print nothing anyway). */
export interface ResponseExtras {
  warnings?: readonly string[];
  auditAnnotations?: Record<string, string> | undefined;
}

function withExtras(res: AdmissionResponse, extra: ResponseExtras): AdmissionResponse {
  if (extra.warnings && extra.warnings.length > 0) res.warnings = [...extra.warnings];
  if (extra.auditAnnotations) res.auditAnnotations = extra.auditAnnotations;
  return res;
}

export function allow(uid: string, extra: ResponseExtras = {}): AdmissionResponse {
  return withExtras({ uid, allowed: true }, extra);
}

export function deny(uid: string, message: string, extra: ResponseExtras = {}): AdmissionResponse {
  return withExtras(
    { uid, allowed: false, status: { code: 403, reason: 'Forbidden', message } },
    extra,
  );
}

/** Allowed with a JSON Patch; no operations is a plain allow, without patchType. */
export function patched(
  uid: string,
  patch: readonly JsonPatchOp[],
  extra: ResponseExtras = {},
): AdmissionResponse {
  const res = allow(uid, extra);
  if (patch.length > 0) {
    res.patchType = 'JSONPatch';
    res.patch = encodePatch(patch);
  }
  return res;
}

/** A policy verdict as the validating webhook's answer. */
export function respond(uid: string, v: Verdict): AdmissionResponse {
  const extra = { warnings: v.warnings, auditAnnotations: v.auditAnnotations };
  return v.decision === 'deny' ? deny(uid, v.message ?? 'denied', extra) : allow(uid, extra);
}
