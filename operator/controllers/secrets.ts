import type { Dataset } from '../api/types.js';
import type { KubeClients } from '../kube/clients.js';
import { isNotFound } from '../kube/errors.js';

export interface SecretCheck {
  problems: { reason: 'SecretNotFound' | 'SecretKeyMissing'; message: string }[];
  /** Secret data (base64 values) by Secret name, for the merged CSI Secret. */
  data: Map<string, Record<string, string>>;
}

/** Verifies every referenced Secret exists and holds the keys its mount needs; never logs values. */
export async function checkSecrets(k: KubeClients, ds: Dataset): Promise<SecretCheck> {
  const out: SecretCheck = { problems: [], data: new Map() };
  const { namespace } = ds.metadata;
  for (const [i, m] of ds.spec.mounts.entries()) {
    if (!m.credentials) continue;
    const secretName = m.credentials.secretRef.name;
    const field = `spec.mounts[${i}].credentials.secretRef.name`;
    if (!out.data.has(secretName)) {
      try {
        const secret = await k.core.readNamespacedSecret({ name: secretName, namespace });
        out.data.set(secretName, { ...(secret.data ?? {}), ...b64(secret.stringData ?? {}) });
      } catch (e) {
        if (!isNotFound(e)) throw e;
        out.problems.push({
          reason: 'SecretNotFound',
          message: `${field}: Secret "${secretName}" not found in namespace "${namespace}"; create it with keys accessKeyId and secretAccessKey`,
        });
        continue;
      }
    }
    const data = out.data.get(secretName);
    if (!data || !m.uri.startsWith('s3://')) continue;
    for (const key of ['accessKeyId', 'secretAccessKey']) {
      if (!(key in data) && !(`${m.name}.${key}` in data)) {
        out.problems.push({ reason: 'SecretKeyMissing', message: `${field}: Secret "${secretName}" has no key "${key}" (or "${m.name}.${key}"); add it` });
      }
    }
  }
  return out;
}

function b64(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
}
