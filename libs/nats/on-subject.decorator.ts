import { EventPattern } from '@nestjs/microservices';
import type { z } from 'zod';
import type { SubjectHandlerExtras } from './events.transport.js';

/** @EventPattern for NatsEventsTransport: the handler gets the payload already validated. */
export const OnSubject = (pattern: string, schema: z.ZodType, opts: Omit<SubjectHandlerExtras, 'schema'> = {}): MethodDecorator =>
  EventPattern(pattern, { schema, ...opts } satisfies SubjectHandlerExtras) as MethodDecorator;
