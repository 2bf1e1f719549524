import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void

/**
 * One full garbage collection of the kind V8 runs when memory runs out ("last resort": it compacts and
 * returns free pages to the OS). Start-up (config validation, compiling, opening everything) leaves
 * several MB of pages that V8 keeps for reuse, and an idle gateway never needs them again: bench/idle.ts
 * measured RssAnon 29.7 -> 23.3 MB on the demo config. V8 runs this kind of collection on its own only
 * near its heap limit; a flag that made it keep memory low all the time (--memory-saver-mode) cost the
 * broker ~50% more CPU per message. The gc function is taken from a fresh context with --expose-gc set
 * for that moment only. Returns false (and does nothing) where that is not possible.
 */
export function releaseStartupMemory(): boolean {
  let gc: GcFunction
  try {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as GcFunction
  } catch {
    return false
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
  if (typeof gc !== 'function') return false
  // Node 20's V8 (the armv7 executable) runs only a minor collection when given options: a plain full one there.
  if (Number(process.versions.node.split('.')[0]) >= 24) gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  else gc()
  return true
}
