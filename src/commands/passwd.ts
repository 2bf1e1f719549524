import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import { hashPassword, isValidUsername, upsertPasswordLine } from '../broker/auth/passwords.ts'
import { TOKEN_USERNAME } from '../broker/auth/tokens.ts'

/**
 * `fieldgate passwd FILE USER`: adds or changes USER's scrypt hash in FILE. On a terminal it asks
 * twice without echo; otherwise it reads the password from the first line of stdin (for scripts).
 * The file is replaced atomically (temp file, fsync, rename) with mode 0600.
 */
export async function passwd(file: string, user: string): Promise<number> {
  if (!isValidUsername(user)) {
    process.stderr.write(`fieldgate passwd: user name "${user}" must not be empty or contain spaces or ":"\n`)
    return 2
  }
  if (user === TOKEN_USERNAME) process.stderr.write(`fieldgate passwd: note: "${TOKEN_USERNAME}" is the user name device tokens log in with\n`)
  let password: string
  if (process.stdin.isTTY) {
    const first = await promptHidden('Password: ')
    const second = first === null ? null : await promptHidden('Repeat password: ')
    if (first === null || second === null) return 130
    if (first !== second) {
      process.stderr.write('fieldgate passwd: the passwords do not match; nothing changed\n')
      return 1
    }
    password = first
  } else {
    password = (await readAll(process.stdin)).split(/\r?\n/)[0] ?? ''
  }
  if (password === '') {
    process.stderr.write('fieldgate passwd: empty password refused; nothing changed\n')
    return 1
  }
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  writeAtomic(file, upsertPasswordLine(text, user, await hashPassword(password)))
  process.stderr.write(`fieldgate passwd: ${user} updated in ${file}; send SIGHUP to a running gateway to reload it\n`)
  return 0
}

function writeAtomic(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`)
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    unlinkSync(tmp)
    throw err
  }
  closeSync(fd)
  renameSync(tmp, file)
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
