import { fileURLToPath } from 'node:url';
import { HoardError } from '../../lib/errors.js';
import type { MountSpec } from '../../lib/mounts.js';
import { FileUfs } from './file.js';
import { HttpUfs } from './http.js';
import { S3Ufs } from './s3.js';
import type { Ufs } from './types.js';

/** Builds the connector for one mount from its URI scheme. */
export function createUfs(spec: MountSpec): Ufs {
  let url: URL;
  try {
    url = new URL(spec.uri);
  } catch {
    throw new HoardError('INVALID_ARGUMENT', `mount "${spec.name}" uri: "${spec.uri}" is not a URI; use s3://bucket/prefix, file:///abs/path or https://host/path`);
  }
  switch (url.protocol) {
    case 's3:':
      return S3Ufs.fromSpec(spec);
    case 'file:':
      if (url.host && url.host !== 'localhost') {
        throw new HoardError('INVALID_ARGUMENT', `mount "${spec.name}" uri: "${spec.uri}" names host "${url.host}"; use file:///abs/path (three slashes)`);
      }
      return new FileUfs(fileURLToPath(url));
    case 'http:':
    case 'https:':
      return HttpUfs.fromSpec(spec);
    default:
      throw new HoardError('INVALID_ARGUMENT', `mount "${spec.name}" uri: scheme "${url.protocol}" is not supported; use s3://, file://, http:// or https://`);
  }
}
