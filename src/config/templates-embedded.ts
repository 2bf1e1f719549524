/**
 * Device templates built into the executable: scripts/exe/bundle.ts replaces this module with the
 * contents of hardware/devices/*.toml (name without ".toml" → TOML text). Empty when run from source,
 * where the templates are read from hardware/devices.
 */
export const EMBEDDED_TEMPLATES: Readonly<Record<string, string>> = {}
