import { Logger } from '@nestjs/common';
import { Svcm, type Service, type ServiceMsg } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorText } from './nats.service.js';

export interface EndpointSpec {
  name: string;
  subject: string;
  handler: (body: string) => Promise<unknown>;
  queue?: string;
}

/**
 * Registers a service of the NATS services API (`nats micro ls|info|stats`) whose endpoints answer
 * JSON. A handler that throws answers a service error (counted in the endpoint's stats).
 */
export async function registerService(
  nc: NatsConnection,
  spec: { name: string; version: string; description: string; instanceId: string; endpoints: EndpointSpec[] },
): Promise<Service> {
  const logger = new Logger(`Service:${spec.name}`);
  const service = await new Svcm(nc).add({
    name: spec.name,
    version: spec.version,
    description: spec.description,
    metadata: { instance: spec.instanceId },
    queue: spec.name,
  });
  for (const ep of spec.endpoints) {
    service.addEndpoint(ep.name, {
      subject: ep.subject,
      queue: ep.queue,
      handler: (err: Error | null, msg: ServiceMsg) => {
        if (err) {
          logger.error(`endpoint ${ep.name}: ${err.message}`);
          return;
        }
        ep.handler(msg.string()).then(
          (result) => msg.respond(JSON.stringify(result)),
          (e: unknown) => {
            const bad = e instanceof BadRequest;
            if (!bad) logger.error(`endpoint ${ep.name} failed: ${errorText(e)}`);
            msg.respondError(bad ? 400 : 500, (e as Error).message, JSON.stringify({ error: (e as Error).message }));
          },
        );
      },
    });
  }
  return service;
}

/** Thrown by an endpoint handler for a request it cannot accept. */
export class BadRequest extends Error {}
