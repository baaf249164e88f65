import type { X509Certificate } from 'node:crypto';
import { type PemPair, createCa, createServingCert, dnsNamesOf, issuedBy, keyMatches, parseCert, splitPem } from './certs.js';

/** What the webhook's TLS Secret holds (all PEM). */
export interface WebhookCerts {
  /** Trust bundle for the API server: the signing CA first, then older CAs still valid. */
  caBundle: string;
  /** Private key of the first CA in the bundle. */
  caKey: string;
  /** Serving certificate and its key. */
  cert: string;
  key: string;
}

export interface CertPolicy {
  /** DNS names the serving certificate must cover (the Service's names). */
  dnsNames: string[];
  caCommonName: string;
  caValidityMs: number;
  servingValidityMs: number;
  /** Renew once this fraction of a certificate's lifetime has passed (0.8: at 80 %). */
  renewFraction: number;
}

const YEAR_MS = 365 * 24 * 3600_000;

export const defaultCertPolicy = (dnsNames: string[]): CertPolicy => ({
  dnsNames,
  caCommonName: 'hoard-webhook-ca',
  caValidityMs: 10 * YEAR_MS,
  servingValidityMs: YEAR_MS,
  renewFraction: 0.8,
});

export type CertChange = { changed: false; certs: WebhookCerts } | { changed: true; certs: WebhookCerts; reason: string };

const renewTime = (c: X509Certificate, fraction: number) => {
  const from = new Date(c.validFrom).getTime();
  return from + fraction * (new Date(c.validTo).getTime() - from);
};
const expired = (c: X509Certificate, now: Date) => new Date(c.validTo).getTime() <= now.getTime();

/** Why the stored serving certificate cannot stay, or undefined when it can. */
function servingProblem(stored: WebhookCerts | undefined, trusted: X509Certificate[], policy: CertPolicy, now: Date): string | undefined {
  const cert = parseCert(stored?.cert);
  if (!cert || !keyMatches(cert, stored?.key)) return 'no usable serving certificate';
  if (!trusted.some((ca) => issuedBy(cert, ca))) return 'serving certificate not issued by a trusted CA';
  if (now.getTime() >= renewTime(cert, policy.renewFraction)) return `serving certificate due for renewal (expires ${new Date(cert.validTo).toISOString()})`;
  const names = dnsNamesOf(cert);
  const missing = policy.dnsNames.filter((n) => !names.includes(n));
  if (missing.length) return `serving certificate lacks ${missing.join(', ')}`;
  return undefined;
}

/**
 * The certificates the Secret should hold from now on. A CA is replaced at `renewFraction` of
 * its life and stays in the bundle until it expires; a serving certificate signed by it is kept
 * until its own renewal time. So a new CA is always published in the caBundle long before any
 * replica serves a certificate it signed, and no API-server call fails over a rotation.
 */
export async function planCerts(stored: WebhookCerts | undefined, policy: CertPolicy, now: Date): Promise<CertChange> {
  const stale: string[] = [];
  const cas: { pem: string; cert: X509Certificate }[] = [];
  for (const pem of splitPem(stored?.caBundle ?? '')) {
    const cert = parseCert(pem);
    if (cert?.ca && !expired(cert, now)) cas.push({ pem, cert });
    else stale.push(pem);
  }
  const reasons: string[] = [];
  let signer: PemPair | undefined;
  const current = cas[0];
  if (!current || !keyMatches(current.cert, stored?.caKey)) {
    reasons.push('no usable CA');
    cas.length = 0;
  } else if (now.getTime() >= renewTime(current.cert, policy.renewFraction)) {
    reasons.push(`CA due for renewal (expires ${new Date(current.cert.validTo).toISOString()})`);
  } else {
    signer = { cert: current.pem, key: stored!.caKey };
  }
  if (!signer) {
    signer = await createCa(policy.caCommonName, now, policy.caValidityMs);
    cas.unshift({ pem: signer.cert, cert: parseCert(signer.cert)! });
  }
  if (stale.length && reasons.length === 0) reasons.push('expired CA dropped from the bundle');

  let serving = stored ? { cert: stored.cert, key: stored.key } : undefined;
  const problem = servingProblem(stored, cas.map((c) => c.cert), policy, now);
  if (problem) {
    reasons.push(problem);
    serving = await createServingCert(signer, policy.dnsNames, now, policy.servingValidityMs);
  }
  const certs: WebhookCerts = { caBundle: cas.map((c) => c.pem).join(''), caKey: signer.key, cert: serving!.cert, key: serving!.key };
  return reasons.length ? { changed: true, certs, reason: reasons.join('; ') } : { changed: false, certs };
}
