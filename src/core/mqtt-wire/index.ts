export { VARINT_MAX, packetSize, varintSize, writeVarint } from './varint.ts'
export { TOPIC_ALIAS_MAX, encodePublish, publishSize, writePublish, type PublishWireProperties } from './publish.ts'
export { stripShare, topicMatches, wildcardsInPlace } from './topics.ts'
