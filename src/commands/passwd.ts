import { closeSync, fchmodSync, fchownSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import { hashPassword, isValidUsername, upsertPasswordLine } from '../broker/auth/passwords.ts'
import { TOKEN_USERNAME } from '../broker/auth/tokens.ts'

/** Shorter passwords are refused: an 8-character minimum, as NIST SP 800-63B asks of user-chosen secrets. */
export const MIN_PASSWORD_LENGTH = 8
/** The service's group (created by hardware/install.sh): a new file is made readable by it. */
const SERVICE_GROUP = 'fieldgate'

/**
 * `fieldgate passwd FILE USER`: adds or changes USER's scrypt hash in FILE. On a terminal it asks
 * twice without echo; otherwise it reads the password from the first line of stdin (for scripts).
 * The file is replaced atomically (temp file, fsync, rename). An existing file keeps its owner, group
 * and mode (the documented `chgrp fieldgate` survives); a new one is 0640 with the `fieldgate` group
 * when that group exists (so the service can read it), else 0600.
 */
export async function passwd(file: string, user: string): Promise<number> {
  const fail = (msg: string, code = 1): number => {
    process.stderr.write(`fieldgate passwd: ${msg}\n`)
    return code
  }
  if (!isValidUsername(user)) return fail(`user name "${user}" must not be empty or contain spaces or ":"`, 2)
  // Checked before asking for the password: a typo in the path should not cost a typed password.
  const target = resolveTarget(file)
  if (typeof target === 'string') return fail(target)
  if (user === TOKEN_USERNAME) process.stderr.write(`fieldgate passwd: note: "${TOKEN_USERNAME}" is the user name device tokens log in with\n`)
  let password: string
  if (process.stdin.isTTY) {
    const first = await promptHidden(`Password (at least ${MIN_PASSWORD_LENGTH} characters): `)
    const second = first === null ? null : await promptHidden('Repeat password: ')
    if (first === null || second === null) return 130
    if (first !== second) return fail('the passwords do not match; nothing changed')
    password = first
  } else {
    password = (await readAll(process.stdin)).split(/\r?\n/)[0] ?? ''
  }
  const length = [...password].length
  if (length < MIN_PASSWORD_LENGTH) return fail(`the password must be at least ${MIN_PASSWORD_LENGTH} characters (this one has ${length}); nothing changed`)
  let text = ''
  try {
    if (target.existing) text = readFileSync(target.path, 'utf8')
  } catch (err) {
    return fail(`cannot read ${target.path}: ${errText(err)}; nothing changed`)
  }
  const hash = await hashPassword(password)
  try {
    const note = writeAtomic(target.path, upsertPasswordLine(text, user, hash), target.existing)
    if (note) process.stderr.write(`fieldgate passwd: note: ${note}\n`)
  } catch (err) {
    return fail(`cannot write ${target.path}: ${errText(err)}; nothing changed`)
  }
  process.stderr.write(`fieldgate passwd: ${user} updated in ${file}; send SIGHUP to a running gateway to reload it\n`)
  return 0
}

type Target = { path: string; existing: Stats | null }

/** The file to replace (a symlink's target, so the link stays) and its current stat, or a one-line problem. */
function resolveTarget(file: string): Target | string {
  try {
    const path = realpathSync(file)
    const st = statSync(path)
    return st.isFile() ? { path, existing: st } : `${file} is not a regular file; give the password file's path`
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot open ${file}: ${errText(err)}`
  }
  const dir = dirname(file)
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory; nothing changed`
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return `directory ${dir} does not exist; create it first (e.g. mkdir -p ${dir}) or give another path; nothing changed`
    return `cannot use directory ${dir}: ${errText(err)}`
  }
  return { path: file, existing: null }
}

/**
 * Writes `text` to a temp file beside `file` with the final owner, group and mode, fsyncs and renames it
 * over `file`. Returns a note when a new file could not be given to the service group.
 */
function writeAtomic(file: string, text: string, existing: Stats | null): string | null {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`)
  const fd = openSync(tmp, 'w', 0o600)
  let note: string | null = null
  try {
    writeSync(fd, text)
    let mode = 0o600
    if (existing) {
      fchownSync(fd, existing.uid, existing.gid)
      mode = existing.mode & 0o7777
    } else {
      const gid = groupId(SERVICE_GROUP)
      if (gid !== null) {
        try {
          fchownSync(fd, process.getuid?.() ?? -1, gid)
          mode = 0o640
        } catch (err) {
          note = `${file} is 0600: it could not be given to group ${SERVICE_GROUP} (${errText(err)}); as root: chgrp ${SERVICE_GROUP} ${file} && chmod 0640 ${file}`
        }
      }
    }
    fchmodSync(fd, mode)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    unlinkSync(tmp)
    throw err
  }
  closeSync(fd)
  try {
    renameSync(tmp, file)
  } catch (err) {
    unlinkSync(tmp)
    throw err
  }
  return note
}

/** The gid of a group in /etc/group, or null when there is no such group. */
function groupId(name: string): number | null {
  let text: string
  try {
    text = readFileSync('/etc/group', 'utf8')
  } catch {
    return null
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':')
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid)
  }
  return null
}

function errText(err: unknown): string {
  // "EACCES: permission denied, open '/etc/fieldgate/.passwd.123.tmp'" -> "EACCES: permission denied"
  return err instanceof Error ? (err.message.split(',')[0] ?? err.message) : String(err)
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString('utf8')
}

/** Reads one line from the terminal in raw mode, echoing nothing. Null on Ctrl-C / Ctrl-D. */
function promptHidden(prompt: string): Promise<string | null> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  return new Promise((resolve) => {
    let line = ''
    const finish = (value: string | null): void => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
      resolve(value)
    }
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(line)
        if (ch === '\u0003' || ch === '\u0004') return finish(null)
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1)
        else if (ch >= ' ') line += ch
      }
    }
    stdin.setRawMode(true)
    stdin.resume()
    stdin.on('data', onData)
  })
}
