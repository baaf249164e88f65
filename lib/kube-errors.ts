// Kubernetes API errors as client-node reports them; shared by the operator and the CSI plugin.
/** HTTP status of a client-node ApiException (or undefined for network errors). */
export function statusCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (e: unknown) => statusCode(e) === 404;
export const isConflict = (e: unknown) => statusCode(e) === 409;
export const isInvalid = (e: unknown) => statusCode(e) === 422;

/** A short description for logs and conditions; the body of an ApiException holds the Status message. */
export function describeError(e: unknown): string {
  const body = (e as { body?: unknown })?.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      // not JSON: fall through
    }
  }
  return e instanceof Error ? e.message : String(e);
}
