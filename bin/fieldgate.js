#!/usr/bin/env node
// Development entry: runs the TypeScript sources through tsx. The single executable bundles src/cli.ts instead.
import { register } from 'tsx/esm/api'
register()
await import('../src/cli.ts')
