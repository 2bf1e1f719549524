import { levelQueueFactory } from './helpers.ts'
import { queueConformance } from './queue-conformance.ts'

queueConformance('LevelQueue', levelQueueFactory, { reopen: true })
