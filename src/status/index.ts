export { createStatusServer, type StatusServer, type StatusServerOptions } from './server.ts'
export { systemSampler, diskUsage, socTemperature } from './system.ts'
export { scrub } from './scrub.ts'
export type { DemoCloudControl, StatusEvent, StatusEventSource, SystemInfo, ReloadResult, StatusServerConfig } from './types.ts'
