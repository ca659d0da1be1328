import { z } from 'zod';
import { Epoch, Generation, Id, IsoTime, SessionMeta, UserId, type Same } from './schemas.js';

/** A user's presence status: with sessions, in the grace period of a pending cleanup, or offline. */
export const USER_STATUSES = ['online', 'grace', 'offline'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/**
 * `presence.query.user`'s answer: `{userId, metas, cleanupAt}` (the contract's), and the project's
 * additions: where the user's manager runs, if it does (with its lease generation), and the user's
 * presence status and epoch, read together with `cleanupAt` (absent: presence has no state for the
 * user). Validated where it is read, like every message.
 */
export const UserPresence = z.object({
  userId: UserId,
  metas: z.array(SessionMeta),
  cleanupAt: IsoTime.nullable(),
  manager: z.object({ workerId: Id, startedAt: IsoTime, generation: Generation.optional() }).nullable(),
  status: z.enum(USER_STATUSES).optional(),
  epoch: Epoch.optional(),
});
export interface UserPresence {
  userId: string;
  metas: SessionMeta[];
  cleanupAt: string | null;
  manager: { workerId: string; startedAt: string; generation?: number } | null;
  status?: UserStatus;
  epoch?: number;
}
const _answer: Same<z.infer<typeof UserPresence>, UserPresence> = true;
