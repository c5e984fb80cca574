/** An in-memory SessionRepository with the item store's semantics (first writer wins per key). */
import type { LinkSessionRecord, SessionRepository, StoredUser } from '../../../src/api/deps';

export class IdempotencyConflict extends Error {
  constructor(readonly existing: LinkSessionRecord) {
    super(`idempotency key already used by ${existing.linkToken}`);
  }
}

export interface MemoryRepository extends SessionRepository {
  users: Map<string, StoredUser>;
  sessions: Array<LinkSessionRecord & { idempotencyKey: string | null; createdAt: string }>;
}

export function createMemoryRepository(): MemoryRepository {
  const users = new Map<string, StoredUser>();
  const sessions: MemoryRepository['sessions'] = [];
  const byKey = (key: string) => sessions.find((s) => s.idempotencyKey === key) ?? null;
  const strip = (s: MemoryRepository['sessions'][number]): LinkSessionRecord => ({
    linkToken: s.linkToken,
    clientUserId: s.clientUserId,
    userId: s.userId,
    expiration: s.expiration,
    requestFingerprint: s.requestFingerprint,
  });
  return {
    users,
    sessions,
    async getUser(clientUserId) {
      return users.get(clientUserId) ?? null;
    },
    async upsertUser(u) {
      users.set(u.clientUserId, {
        clientUserId: u.clientUserId,
        userId: u.userId,
        userToken: u.userToken ?? null,
      });
    },
    async saveLinkSession(s) {
      if (sessions.some((x) => x.linkToken === s.linkToken)) return;
      const existing = s.idempotencyKey ? byKey(s.idempotencyKey) : null;
      if (existing) throw new IdempotencyConflict(strip(existing));
      sessions.push({
        linkToken: s.linkToken,
        clientUserId: s.clientUserId,
        userId: s.userId,
        expiration: s.expiration,
        requestFingerprint: s.requestFingerprint ?? null,
        idempotencyKey: s.idempotencyKey ?? null,
        createdAt: new Date(Date.now() + sessions.length).toISOString(),
      });
    },
    async findLinkSessionByIdempotencyKey(key) {
      const found = byKey(key);
      return found ? strip(found) : null;
    },
    async listLinkSessions(clientUserId) {
      return sessions
        .filter((s) => s.clientUserId === clientUserId)
        .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))
        .map((s) => ({
          linkToken: s.linkToken,
          createdAt: s.createdAt,
          userId: s.userId,
          expiration: s.expiration,
        }));
    },
  };
}
