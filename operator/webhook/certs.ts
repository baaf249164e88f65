// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect metadata
// polyfill loaded first. Node's crypto signs and verifies but cannot build a certificate.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** ECDSA P-256: small keys, fast to generate, accepted by every Kubernetes API server. */
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** Certificates start a little in the past so a node whose clock lags still accepts them. */
const BACKDATE_MS = 5 * 60_000;

export interface PemPair {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

const serial = () => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // a positive INTEGER, as RFC 5280 requires
  return b.toString('hex');
};

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
}

/** A self-signed CA that may sign serving certificates only (path length 0). */
export async function createCa(commonName: string, now: Date, validityMs: number): Promise<PemPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityMs),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: `${cert.toString('pem').trim()}\n`, key: await keyPem(keys) };
}

/**
 * A TLS server certificate for `dnsNames` (the first is the subject CN), signed by `ca`, valid
 * for `validityMs` but never beyond the CA itself.
 */
export async function createServingCert(ca: PemPair, dnsNames: string[], now: Date, validityMs: number): Promise<PemPair> {
  if (dnsNames.length === 0) throw new Error('a serving certificate needs at least one DNS name');
  const caCert = new x509.X509Certificate(ca.cert);
  const caKeyDer = createPrivateKey(ca.key).export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', caKeyDer, ALG, false, ['sign']);
  const keys = await newKeys();
  const notAfter = Math.min(now.getTime() + validityMs, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [dnsNames[0]!] }],
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(dnsNames.map((value) => ({ type: 'dns' as const, value }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: `${cert.toString('pem').trim()}\n`, key: await keyPem(keys) };
}

/** The certificates of a PEM bundle, in order; text between them is ignored. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}

/** Parse a PEM certificate, or undefined when it is not one. */
export function parseCert(pem: string | undefined): X509Certificate | undefined {
  if (!pem) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** True when `key` (PEM) is the private key of `cert`. */
export function keyMatches(cert: X509Certificate, key: string | undefined): boolean {
  if (!key) return false;
  try {
    return cert.checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}

/** The DNS names of a certificate's subjectAltName. */
export function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
}

/** True when `cert` was issued and signed by `ca`. */
export function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}
