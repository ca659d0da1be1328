import type { INestApplication } from '@nestjs/common';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { AppConfig } from '#libs/config/index.js';
import { basicAuth } from '#libs/runtime/basic-auth.js';
import { CleanupQueueService } from './cleanup/cleanup-queue.service.js';

export const BOARD_PATH = '/queues';

/**
 * The BullMQ board at /queues, behind basic auth: pending cleanups are its delayed jobs. Read-only
 * in every mode: a cleanup is run by presence's own timer at its time whatever happens to its job,
 * so the board's remove would not cancel it, and its promote cannot make it run early (a job run
 * before its time is put back, never earlier being a guarantee). Buttons that do not do what they
 * say are not shown; the operator's actions are `npm run inspect -- stop | end-sessions`.
 */
export function mountBoard(app: INestApplication, config: AppConfig) {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: [
      new BullMQAdapter(app.get(CleanupQueueService).queue, {
        readOnlyMode: true,
        description: 'Delayed cleanups: one per user whose last tab closed. To run one now: npm run inspect -- stop <userId>',
      }),
    ],
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Presence cleanups' } },
  });
  // bull-board's router is an Express app of its own, which would announce itself again.
  const router = adapter.getRouter() as { disable?(setting: string): void };
  router.disable?.('x-powered-by');
  app.use(BOARD_PATH, basicAuth(config.boardUser, config.boardPassword, 'presence board'), router);
}
