import type { INestApplication } from '@nestjs/common';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { AppConfig } from '#libs/config/index.js';
import { basicAuth } from '#libs/runtime/basic-auth.js';
import { CleanupQueueService } from './cleanup/cleanup-queue.service.js';

export const BOARD_PATH = '/queues';

/** The BullMQ board at /queues, behind basic auth: pending cleanups are its delayed jobs. */
export function mountBoard(app: INestApplication, config: AppConfig) {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(app.get(CleanupQueueService).queue, { readOnlyMode: false, description: 'Delayed cleanups: one per user whose last tab closed' })],
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Presence cleanups' } },
  });
  app.use(BOARD_PATH, basicAuth(config.boardUser, config.boardPassword, 'presence board'), adapter.getRouter());
}
