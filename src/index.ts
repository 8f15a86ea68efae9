export { createSessionManager } from './manager.js';
export type {
  NodeHTTPContextOptions,
  PersistMode,
  SessionContext,
  SessionManager,
  SessionManagerOptions,
  UserSessionInfo,
} from './manager.js';
export { SessionHandle } from './handle.js';
export { Session, SessionData } from './session.js';
export type { SessionInput, SessionKey, SessionMeta, SessionValue } from './session.js';
export type { SessionDataOf, SessionSchema } from './schema.js';
export type { SessionCookieOptions } from './cookie.js';
export type { SessionCommit, SessionTransport } from './transport.js';
export { createCallerContext } from './adapters/caller.js';
export type { CallerSessionOptions } from './adapters/caller.js';
export { sessionPerCall } from './per-call.js';
export { redisStore } from './stores/redis.js';
export type { RedisClient, RedisStoreOptions } from './stores/redis.js';
export { createRedisConnections } from './redis-connections.js';
export type {
  RedisClusterConnectionOptions,
  RedisConnectionConfig,
  RedisConnections,
  SharedRedisConnection,
} from './redis-connections.js';
export { memoryStore } from './stores/memory.js';
export type { MemoryStoreOptions } from './stores/memory.js';
export type {
  CompareAndSetResult,
  ExpiryPolicy,
  FieldSwap,
  LoadResult,
  RecordWrite,
  SessionStore,
  StoredRecord,
  UserRecordSummary,
  WriteResult,
} from './stores/store.js';
export {
  SessionConflictError,
  SessionCorruptError,
  SessionError,
  SessionFieldDroppedError,
  SessionGoneError,
  SessionSerializationError,
  SessionStoreRecoveredError,
  SessionStoreUnavailableError,
  SessionTooLargeError,
  SessionUnavailableError,
  SessionValidationError,
} from './errors.js';
