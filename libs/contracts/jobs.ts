import { LeaveReason } from './schemas.js';

export const CLEANUP_QUEUE = 'presence-cleanup';

/** Data of a delayed cleanup job: the epoch makes a stale job (the user came back) a no-op. */
export interface CleanupJobData {
  userId: string;
  epoch: number;
  runAt: string;
  reason: LeaveReason;
}

/**
 * BullMQ ignores an add whose id is still delayed or active, so the epoch is part of the id:
 * a user who leaves, returns and leaves again while the first cleanup runs still gets a new job.
 * Ids may not contain ':' nor look like integers.
 */
export const cleanupJobId = (userId: string, epoch: number) => `cleanup-${userId}-${epoch}`;
export const cleanupJobName = (userId: string) => `cleanup ${userId}`;
