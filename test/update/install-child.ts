// Runs installUpdate in its own process and kills itself with SIGKILL at the named step (or finishes).
import { readFileSync } from 'node:fs'
import { installUpdate, type InstallStep } from '../../src/update/install.ts'
import { parseManifest } from '../../src/update/manifest.ts'

const [exe, file, manifestFile, killAt] = process.argv.slice(2) as [string, string, string, string]
await installUpdate(file, parseManifest(readFileSync(manifestFile, 'utf8')), {
  exe,
  runningVersion: '0.1.0',
  onStep: (s: InstallStep) => {
    if (s === killAt) process.kill(process.pid, 'SIGKILL')
  },
})
process.stdout.write('installed\n')
