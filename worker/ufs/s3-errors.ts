import { HoardError } from '../../lib/errors.js';

const NOT_FOUND = new Set(['NotFound', 'NoSuchKey', 'NoSuchBucket']);
const DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'AllAccessDisabled',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

/**
 * Maps AWS SDK v3 errors to the shared vocabulary. SDK messages never carry the secret key, so
 * they are safe to pass on; `where` names the s3:// location so the user sees which mount failed.
 */
export function s3Error(e: unknown, where: string): HoardError {
  if (e instanceof HoardError) return e;
  const err = e as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const name = err?.name ?? '';
  const status = err?.$metadata?.httpStatusCode;
  const netCode = err?.code ?? err?.cause?.code ?? '';
  // HEAD answers have no body, so the SDK only knows the status ("Unknown"): say that instead.
  const known = name && name !== 'Unknown' && name !== 'UnknownError';
  const msg = known ? `${name}: ${err?.message || name}` : status ? `HTTP ${status}` : err?.message || String(e);
  if (name === 'NoSuchBucket') {
    return new HoardError('NOT_FOUND', `${where}: bucket does not exist; check the mount uri`, { cause: e });
  }
  if (NOT_FOUND.has(name) || status === 404) return new HoardError('NOT_FOUND', `${where}: not found`, { cause: e });
  if (DENIED.has(name) || status === 401 || status === 403) {
    const hint =
      name === 'CredentialsProviderError'
        ? 'set credentialsDir or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY'
        : 'check the access key and secret (credentialsDir or environment) and the bucket policy';
    return new HoardError('PERMISSION_DENIED', `${where}: access denied (${msg}); ${hint}`, { cause: e });
  }
  if (name === 'TimeoutError' || name === 'RequestTimeout' || NETWORK.has(netCode) || (status !== undefined && (status >= 500 || status === 429))) {
    return new HoardError('UNAVAILABLE', `${where}: storage unavailable (${netCode ? `${netCode} ` : ''}${msg})`, { cause: e });
  }
  if (status === 400) return new HoardError('INVALID_ARGUMENT', `${where}: ${msg}`, { cause: e });
  return new HoardError('UNAVAILABLE', `${where}: ${msg}`, { cause: e });
}
