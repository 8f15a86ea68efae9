export { createSessionManager } from './manager.js';
export type { NodeHTTPContextOptions, SessionManager, SessionProcedure } from './manager.js';
export type { PersistMode, ReservedContextKey, SessionManagerOptions } from './options.js';
export type { SessionMigration, SessionMigrations, StoredSessionFields } from './migrations.js';
export type {
  RegenerateOptions,
  FlashKey,
  Session,
  SessionContext,
  SessionData,
  SessionFlash,
  SessionHandle,
  SessionInput,
  SessionKey,
  SessionMeta,
  SessionValue,
  UserSessionInfo,
  UserSessionsOptions,
  DeviceInfo,
  BindUserOptions,
  SessionStoreHealth,
} from './session-api.js';
export type { NoFlash, SessionDataOf, SessionSchema } from './schema.js';
export type { SessionEvent, SessionEventReason, SessionEventType } from './events.js';
export type { SessionCookieOptions } from './cookie.js';
export { createCallerContext } from './adapters/caller.js';
export type { CallerSessionOptions } from './adapters/caller.js';
export { redisStore } from './stores/redis.js';
export type { RedisStoreOptions } from './stores/redis.js';
export type { RedisClient } from './redis-client.js';
export { createRedisConnections } from './redis-connections.js';
export type {
  RedisClusterConnectionOptions,
  RedisConnectionConfig,
  RedisConnections,
  RedisServerOptions,
  SharedRedisConnection,
} from './redis-connections.js';
export { memoryStore } from './stores/memory.js';
export type { MemoryStoreOptions } from './stores/memory.js';
export type {
  CompareAndSetResult,
  FieldSwap,
  LoadResult,
  MoveOutResult,
  RecordLifespan,
  RecordTouch,
  RecordExpectation,
  RecordWrite,
  SessionStore,
  StoredRecord,
  TooLarge,
  UserRecordSummary,
  WriteResult,
} from './stores/store.js';
export {
  SessionConflictError,
  SessionCorruptError,
  SessionError,
  SessionEventHookError,
  SessionFieldDroppedError,
  SessionForbiddenError,
  SessionGoneError,
  SessionMigrationError,
  SessionSerializationError,
  SessionStoreRecoveredError,
  SessionStoreUnavailableError,
  SessionTooLargeError,
  SessionUnavailableError,
  SessionValidationError,
  SessionVersionError,
} from './errors.js';
