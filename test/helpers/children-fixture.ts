// Run by children.test.ts: starts a long sleep through track() and prints its pid, then waits.
import { spawn } from 'node:child_process'
import { track } from './children.ts'

const p = track(spawn('sleep', ['600'], { stdio: 'ignore' }))
process.stdout.write(`${p.pid}\n`)
setTimeout(() => undefined, 600_000)
