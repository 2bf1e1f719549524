import { X509Certificate, verify } from 'node:crypto'

/**
 * Checks a PEM file of certificate revocation lists before it goes into a TLS context. OpenSSL takes a CRL
 * that is expired or signed by another CA without complaint, and then refuses every client certificate
 * (CRL_HAS_EXPIRED, UNABLE_TO_GET_CRL): that is caught here, at start and reload, instead of in the field.
 * Returns what is wrong, or null.
 */
export function crlProblem(crlPem: string, caPem: string, now = Date.now()): string | null {
  const crls = pemBlocks(crlPem, 'X509 CRL')
  if (crls.length === 0) return 'holds no "-----BEGIN X509 CRL-----" block (make one with `openssl ca -gencrl`)'
  const cas = pemBlocks(caPem, 'CERTIFICATE').flatMap((der) => {
    try {
      return [new X509Certificate(der)]
    } catch {
      return []
    }
  })
  for (const [i, der] of crls.entries()) {
    const which = crls.length > 1 ? `CRL ${i + 1}` : 'the CRL'
    let crl: ParsedCrl
    try {
      crl = parseCrl(der)
    } catch (err) {
      return `${which} is not a valid X.509 CRL (${(err as Error).message})`
    }
    if (crl.nextUpdate !== null && crl.nextUpdate < now) {
      return `${which} expired on ${new Date(crl.nextUpdate).toISOString()} (its nextUpdate): issue a fresh one with \`openssl ca -gencrl\`, else every client certificate is refused`
    }
    const hash = crl.hash
    if (hash !== null && !cas.some((ca) => signedBy(hash, crl, ca))) {
      return `${which} is not signed by a CA in tls.ca_file, so no client certificate could be checked against it`
    }
  }
  return null
}

interface ParsedCrl {
  tbs: Buffer
  /** Digest of the signature algorithm; null when the algorithm is one this check does not know. */
  hash: string | null
  signature: Buffer
  nextUpdate: number | null
}

const SIGNATURE_HASH: Record<string, string | undefined> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
}

function signedBy(hash: string, crl: ParsedCrl, ca: X509Certificate): boolean {
  try {
    return verify(hash, crl.tbs, ca.publicKey, crl.signature)
  } catch {
    return false
  }
}

function pemBlocks(pem: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([^-]*)-----END ${label}-----`, 'g')
  return [...pem.matchAll(re)].map((m) => Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'))
}

interface Tlv {
  tag: number
  /** The whole element, header included. */
  raw: Buffer
  body: Buffer
}

/** One DER element at `at`; throws on a length that runs past the buffer. */
function tlv(buf: Buffer, at: number): Tlv {
  if (at + 2 > buf.length) throw new Error('truncated')
  const tag = buf[at] as number
  let len = buf[at + 1] as number
  let head = 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4 || at + 2 + n > buf.length) throw new Error('bad length')
    len = 0
    for (let k = 0; k < n; k++) len = len * 256 + (buf[at + 2 + k] as number)
    head += n
  }
  if (at + head + len > buf.length) throw new Error('truncated')
  return { tag, raw: buf.subarray(at, at + head + len), body: buf.subarray(at + head, at + head + len) }
}

function children(buf: Buffer): Tlv[] {
  const out: Tlv[] = []
  for (let at = 0; at < buf.length && out.length < 64; ) {
    const t = tlv(buf, at)
    out.push(t)
    at += t.raw.length
  }
  return out
}

function oid(body: Buffer): string {
  const first = body[0] ?? 0
  const parts = [Math.floor(first / 40), first % 40]
  let v = 0
  for (const b of body.subarray(1)) {
    v = v * 128 + (b & 0x7f)
    if (!(b & 0x80)) {
      parts.push(v)
      v = 0
    }
  }
  return parts.join('.')
}

/** UTCTime (0x17, YYMMDDHHMMSSZ) or GeneralizedTime (0x18, YYYYMMDDHHMMSSZ) to epoch ms. */
function time(t: Tlv): number {
  const s = t.body.toString('latin1')
  const m = t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
  if (!m) throw new Error(`bad time ${s}`)
  const y = Number(m[1])
  const year = t.tag === 0x17 ? (y < 50 ? 2000 + y : 1900 + y) : y
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]))
}

/** CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue } (RFC 5280 5.1). */
function parseCrl(der: Buffer): ParsedCrl {
  const outer = tlv(der, 0)
  const [tbs, alg, sig] = children(outer.body)
  if (outer.tag !== 0x30 || !tbs || !alg || !sig || tbs.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03) throw new Error('not a CertificateList')
  const fields = children(tbs.body)
  // version (INTEGER, optional), signature, issuer, thisUpdate, nextUpdate (optional), ...
  const rest = fields[0]?.tag === 0x02 ? fields.slice(1) : fields
  const thisUpdate = rest[2]
  if (!thisUpdate || (thisUpdate.tag !== 0x17 && thisUpdate.tag !== 0x18)) throw new Error('no thisUpdate')
  time(thisUpdate)
  const next = rest[3]
  const nextUpdate = next && (next.tag === 0x17 || next.tag === 0x18) ? time(next) : null
  const algOid = children(alg.body)[0]
  return {
    tbs: tbs.raw,
    hash: algOid?.tag === 0x06 ? (SIGNATURE_HASH[oid(algOid.body)] ?? null) : null,
    // BIT STRING: first byte is the count of unused bits (0 for signatures).
    signature: sig.body.subarray(1),
    nextUpdate,
  }
}
