import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * A small ext4 file system on a loop device, mounted so that nothing reaches its backing file unless
 * fsynced (data=writeback, journal commit every 300 s; the kernel's own writeback starts after 30 s).
 * `cut()` simulates a power cut: the backing file is copied (what reached the "disk"), the old mount is
 * thrown away, and the copy is mounted in its place, so unsynced writes are gone. Needs root (CI runs
 * tests as root). See FINDINGS "Power-cut testing without hardware"; SIGKILL alone keeps the page cache.
 */
export class PowerCutDisk {
  private loop: string | null = null
  private mounted = false
  private generation = 0

  private constructor(
    private readonly dir: string,
    readonly mountPoint: string,
  ) {}

  /** Creates dir/disk-0.img (`sizeMb`), formats and mounts it on dir/mnt. */
  static create(dir: string, sizeMb = 96): PowerCutDisk {
    if (process.getuid?.() !== 0) throw new Error('power-cut tests mount a loop device: run them as root (CI does)')
    const d = new PowerCutDisk(dir, join(dir, 'mnt'))
    mkdirSync(d.mountPoint, { recursive: true })
    const image = d.image()
    execFileSync('truncate', ['-s', `${sizeMb}M`, image])
    execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'ignore' })
    d.mount(image)
    return d
  }

  /**
   * The power goes: copy what reached the backing file (the instant of the cut: stop the writers with
   * SIGSTOP first), then `kill` them (their files must be closed to unmount), then mount the copy.
   */
  async cut(kill: () => Promise<unknown>): Promise<void> {
    const before = this.image()
    this.generation++
    copyFileSync(before, this.image())
    await kill()
    this.unmount()
    this.mount(this.image())
  }

  /** Unmounts and detaches; safe to call twice. */
  close(): void {
    this.unmount()
  }

  private image(): string {
    return join(this.dir, `disk-${this.generation}.img`)
  }

  private mount(image: string): void {
    this.loop = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim()
    execFileSync('mount', ['-o', 'data=writeback,commit=300', this.loop, this.mountPoint])
    this.mounted = true
  }

  private unmount(): void {
    if (this.mounted) {
      // unmounting writes the dirty pages back, but to the old image, which is no longer used
      execFileSync('umount', [this.mountPoint])
      this.mounted = false
    }
    if (this.loop !== null) {
      execFileSync('losetup', ['-d', this.loop])
      this.loop = null
    }
  }
}
