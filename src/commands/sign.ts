import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { DEFAULT_CHUNK_SIZE, elfArch, generateSigningKey, hashFile, manifestToJson, parsePrivateKey, parseSemver, signManifest } from '../update/index.ts'
import { errorMessage } from '../core/index.ts'

const fail = (cmd: string, msg: string, code = 1): number => {
  process.stderr.write(`fieldgate ${cmd}: ${msg}\n`)
  return code
}

/** `fieldgate keygen FILE`: an Ed25519 key pair, FILE (private, PKCS#8 PEM, 0600) and FILE.pub (the line for update.public_keys). */
export function keygen(argv: string[]): number {
  let positionals: string[]
  try {
    positionals = parseArgs({ args: argv, allowPositionals: true, strict: true, options: {} }).positionals
  } catch (err) {
    return fail('keygen', `${errorMessage(err)} (usage: fieldgate keygen FILE)`, 2)
  }
  const [file] = positionals
  if (!file || positionals.length > 1) return fail('keygen', 'usage: fieldgate keygen FILE (writes FILE and FILE.pub)', 2)
  for (const f of [file, `${file}.pub`]) if (existsSync(f)) return fail('keygen', `${f} already exists; choose another name or move it away (a signing key is never overwritten)`)
  const k = generateSigningKey()
  let fd: number
  try {
    fd = openSync(file, 'wx', 0o600)
  } catch (err) {
    return fail('keygen', `cannot create ${file}: ${errorMessage(err)}`)
  }
  try {
    writeSync(fd, k.privatePem)
  } finally {
    closeSync(fd)
  }
  try {
    writeFileSync(`${file}.pub`, `${k.publicText}\n`, { mode: 0o644, flag: 'wx' })
  } catch (err) {
    return fail('keygen', `cannot create ${file}.pub: ${errorMessage(err)}`)
  }
  process.stdout.write(`private key ${file} (0600: keep it off the gateways), public key ${file}.pub (key id ${k.id})\n`)
  process.stdout.write(`trust it on a gateway with:\n  [update]\n  public_keys = ["${k.publicText}"]\n`)
  return 0
}

/** `fieldgate sign FILE --key PRIVATE --version V [--downgrade-from NEWEST] [--out MANIFEST]`: writes the signed manifest. */
export async function sign(argv: string[]): Promise<number> {
  let values: { key?: string; version?: string; out?: string; 'allow-downgrade'?: boolean; 'downgrade-from'?: string; 'chunk-size'?: string }
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { key: { type: 'string' }, version: { type: 'string' }, out: { type: 'string' }, 'allow-downgrade': { type: 'boolean' }, 'downgrade-from': { type: 'string' }, 'chunk-size': { type: 'string' } },
    }))
  } catch (err) {
    return fail('sign', `${errorMessage(err)} (usage: fieldgate sign FILE --key PRIVATE --version VERSION)`, 2)
  }
  const [file] = positionals
  if (!file || positionals.length > 1 || !values.key || !values.version) return fail('sign', 'usage: fieldgate sign FILE --key PRIVATE --version VERSION [--downgrade-from NEWEST] [--out MANIFEST]', 2)
  if (!parseSemver(values.version)) return fail('sign', `--version ${values.version} is not a semantic version like 1.2.3`, 2)
  if (values['allow-downgrade'] === true) return fail('sign', '--allow-downgrade is now --downgrade-from NEWEST: the newest running version this downgrade may replace (bounded, so it cannot be replayed against later releases)', 2)
  const from = values['downgrade-from']
  if (from !== undefined && !parseSemver(from)) return fail('sign', `--downgrade-from ${from} is not a semantic version like 1.2.3`, 2)
  let pem: string
  try {
    pem = readFileSync(values.key, 'utf8')
  } catch (err) {
    return fail('sign', `cannot read the key ${values.key}: ${errorMessage(err)}`)
  }
  const key = parsePrivateKey(pem)
  if (!key) return fail('sign', `${values.key} is not an Ed25519 private key; make one with fieldgate keygen FILE`)
  const chunkSize = values['chunk-size'] === undefined ? DEFAULT_CHUNK_SIZE : Number(values['chunk-size'])
  let arch
  try {
    const fh = await open(file, 'r')
    const header = Buffer.alloc(20)
    await fh.read(header, 0, 20, 0).finally(() => fh.close())
    arch = elfArch(header)
  } catch (err) {
    return fail('sign', `cannot read ${file}: ${errorMessage(err)}`)
  }
  if (!arch) return fail('sign', `${file} is not a Linux executable for x64, arm64 or armv7; give dist/fieldgate-linux-<target>`)
  try {
    const h = await hashFile(file, chunkSize)
    const manifest = signManifest({ version: values.version, arch, size: h.size, sha256: h.sha256, chunkSize, chunks: h.chunks, downgrade: from !== undefined, downgradeFrom: from ?? null }, key)
    const out = values.out ?? `${file}.manifest.json`
    writeFileSync(out, manifestToJson(manifest))
    process.stdout.write(`${out}: version ${manifest.version}, ${manifest.arch}, ${manifest.size} bytes, sha256 ${manifest.sha256}, key ${manifest.keyId}${manifest.downgradeFrom !== null ? `, may replace versions up to ${manifest.downgradeFrom}` : ''}\n`)
    return 0
  } catch (err) {
    return fail('sign', errorMessage(err))
  }
}
