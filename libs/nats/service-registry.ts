import { Logger } from '@nestjs/common';
import { Svcm, type Service, type ServiceMsg } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorText } from './nats.service.js';
import { oversize } from './respond.js';

export interface EndpointSpec {
  name: string;
  subject: string;
  /** `subject`: the one the request came on (an endpoint's subject may end in a wildcard). */
  handler: (body: string, subject: string) => Promise<unknown>;
  /** This endpoint's queue group, instead of the service's. */
  queue?: string;
}

/**
 * Registers a service of the NATS services API (`nats micro ls|info|stats`) whose endpoints answer
 * JSON. A handler that throws answers a service error (counted in the endpoint's stats).
 */
export async function registerService(
  nc: NatsConnection,
  spec: {
    name: string;
    version: string;
    description: string;
    instanceId: string;
    endpoints: EndpointSpec[];
    /** The queue group of every endpoint (default: the service's name); '' for none: every instance gets every request. */
    queue?: string;
  },
): Promise<Service> {
  const logger = new Logger(`Service:${spec.name}`);
  const service = await new Svcm(nc).add({
    name: spec.name,
    version: spec.version,
    description: spec.description,
    metadata: { instance: spec.instanceId },
    queue: spec.queue ?? spec.name,
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
        const start = Date.now();
        const stats = endpointStats(service, ep.name);
        // A handler that throws before returning its promise is answered like one that rejects.
        Promise.resolve()
          .then(() => ep.handler(msg.string(), msg.subject))
          .then((result) => {
            const body = JSON.stringify(result);
            // The client would refuse to send it, and the asker would wait for its timeout: say why.
            const tooLarge = oversize(nc, body);
            if (tooLarge) throw new Error(tooLarge);
            msg.respond(body);
          })
          .catch((e: unknown) => {
            const bad = e instanceof BadRequest;
            if (!bad) logger.error(`endpoint ${ep.name} failed: ${errorText(e)}`);
            stats?.countError(e as Error);
            msg.respondError(bad ? 400 : 500, (e as Error).message, JSON.stringify({ error: (e as Error).message }));
          })
          .finally(() => stats?.addTime(Date.now() - start));
      },
    });
  }
  return service;
}

interface EndpointStatsInternals {
  num_requests: number;
  processing_time: number;
  average_processing_time: number;
  countError(err: Error): void;
}

/**
 * @nats-io/services counts errors and time only for handlers that throw or finish synchronously;
 * ours answer asynchronously, so `nats micro stats` would show no errors and ~0 processing time.
 * The endpoint's stats object is internal (pinned version), so this degrades to nothing if it moves.
 */
function endpointStats(service: Service, name: string) {
  const handlers = (service as unknown as { handlers?: Array<{ name: string; stats?: EndpointStatsInternals }> }).handlers;
  const s = handlers?.find((h) => h.name === name)?.stats;
  if (!s || typeof s.countError !== 'function') return undefined;
  return {
    countError: (err: Error) => s.countError(err),
    addTime: (ms: number) => {
      s.processing_time += ms * 1_000_000;
      s.average_processing_time = Math.round(s.processing_time / Math.max(1, s.num_requests));
    },
  };
}

/** Thrown by an endpoint handler for a request it cannot accept. */
export class BadRequest extends Error {}
