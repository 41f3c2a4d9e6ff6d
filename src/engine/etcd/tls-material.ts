import crypto from 'node:crypto';

/**
 * A check of the TLS material of an etcd component before anything dials: each PEM must parse, and the key must be
 * the certificate's. A failure names the field (`ca: ...`, `cert: ...`, `key: ...`) so start-up can report it.
 * Done when the store opens rather than when the file is validated, so a manifest may carry placeholders that a
 * Secret fills in.
 */
export function checkTlsMaterial(input: Record<string, unknown>): void {
  const on = String(input.tlsEnable ?? '').toLowerCase();
  if (on !== 'true' && on !== '1') return;
  const pem = (field: 'ca' | 'cert' | 'key'): string => {
    const v = input[field];
    if (typeof v !== 'string' || v === '') {
      throw new Error(
        `${field}: tls authentication information is incomplete: ${field} is required with tlsEnable`,
      );
    }
    return v;
  };
  const parse = <T>(field: 'ca' | 'cert' | 'key', what: string, make: (v: string) => T): T => {
    try {
      return make(pem(field));
    } catch (err) {
      throw new Error(`${field}: not PEM text of ${what} (${(err as Error).message})`);
    }
  };
  parse('ca', 'a CA certificate', (v) => new crypto.X509Certificate(v));
  const cert = parse('cert', 'a certificate', (v) => new crypto.X509Certificate(v));
  const key = parse('key', 'a private key', (v) => crypto.createPrivateKey(v));
  if (!cert.checkPrivateKey(key)) throw new Error('key: the private key does not belong to cert');
}
