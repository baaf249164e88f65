import type { FieldCause, ResourceType } from './types.js';

/**
 * An error the server answers with a `Status` body, shaped exactly like kube-apiserver's so that
 * client-node raises ApiException with `code` and `body` the caller can inspect.
 */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** `statefulsets.apps`, or just `pods` for the core group. */
export function qualifiedResource(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

function qualifiedKind(rt: ResourceType): string {
  return rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
}

function resourceDetails(rt: ResourceType, name: string): Record<string, unknown> {
  return { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.plural };
}

export function notFound(rt: ResourceType, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(rt)} "${name}" not found`, resourceDetails(rt, name));
}

export function namespaceNotFound(ns: string): ApiError {
  return new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(rt)} "${name}" already exists`, resourceDetails(rt, name));
}

export function conflict(rt: ResourceType, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": ${why}`, resourceDetails(rt, name));
}

export function invalid(rt: ResourceType, name: string, causes: FieldCause[]): ApiError {
  const parts = causes.map((c) => `${c.field}: ${c.message}`);
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualifiedKind(rt)} "${name}" is invalid: ${summary}`, {
    name,
    ...(rt.group ? { group: rt.group } : {}),
    kind: rt.kind,
    causes,
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function forbidden(rt: ResourceType, name: string, why: string): ApiError {
  return new ApiError(403, 'Forbidden', `${qualifiedResource(rt)} "${name}" is forbidden: ${why}`, resourceDetails(rt, name));
}

export function methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function notFoundPath(path: string): ApiError {
  return new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`, {});
}

export function expired(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function unsupportedMediaType(type: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${type})`);
}

/** A single-field invalid cause. */
export function cause(reason: FieldCause['reason'], field: string, message: string): FieldCause {
  return { reason, field, message };
}
