import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { HoardError } from '../../lib/errors.js';

// The SDK refreshes credentials that expire within 5 minutes; expiring 6 minutes out makes it
// re-read the files about once a minute, so a rotated Secret is picked up without a restart.
const REREAD_AFTER_MS = 6 * 60_000;

/**
 * Credentials from a directory of files (a mounted Kubernetes Secret, or the 0700 dir the CSI
 * plugin writes): accessKeyId, secretAccessKey and optionally sessionToken. Values never leave
 * this function except into the SDK signer: not logged, not put in errors.
 */
export function credentialsFromDir(dir: string, mountName: string): AwsCredentialIdentityProvider {
  const where = `mount "${mountName}" credentialsDir ${dir}`;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new HoardError('INVALID_ARGUMENT', `${where}: not a directory; point credentialsDir at a folder holding accessKeyId and secretAccessKey files`);
  }
  for (const f of ['accessKeyId', 'secretAccessKey']) {
    if (!existsSync(join(dir, f))) {
      throw new HoardError('INVALID_ARGUMENT', `${where}: file "${f}" is missing; the Secret needs keys accessKeyId and secretAccessKey`);
    }
  }
  return async (): Promise<AwsCredentialIdentity> => {
    const read = async (f: string, optional = false): Promise<string | undefined> => {
      try {
        return (await readFile(join(dir, f), 'utf8')).trim();
      } catch (e) {
        if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new HoardError('PERMISSION_DENIED', `${where}: cannot read "${f}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    };
    const accessKeyId = (await read('accessKeyId')) ?? '';
    const secretAccessKey = (await read('secretAccessKey')) ?? '';
    const sessionToken = await read('sessionToken', true);
    if (!accessKeyId || !secretAccessKey) {
      throw new HoardError('PERMISSION_DENIED', `${where}: accessKeyId and secretAccessKey must not be empty`);
    }
    return {
      accessKeyId,
      secretAccessKey,
      ...(sessionToken ? { sessionToken } : {}),
      expiration: new Date(Date.now() + REREAD_AFTER_MS),
    };
  };
}
