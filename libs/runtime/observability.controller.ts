import { Controller, Get, Header, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Metrics } from '#libs/observability/metrics.js';
import { Readiness } from './readiness.js';

/**
 * GET /health and /health/ready (200 ready and connected, 503 otherwise: whether to send this
 * instance work), GET /health/live (200 while the process answers at all: whether to restart it;
 * a back end away is no reason to, restarting would not bring it back), GET /metrics (Prometheus).
 */
@Controller()
export class ObservabilityController {
  constructor(
    private readonly readiness: Readiness,
    private readonly metrics: Metrics,
  ) {}

  @Get('health/live')
  live(@Res() res: Response) {
    res.status(200).json({ status: 'ok' });
  }

  @Get(['health', 'health/ready'])
  health(@Res() res: Response) {
    const report = this.readiness.report();
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async metricsText(@Res() res: Response) {
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    res.send(await this.metrics.registry.metrics());
  }
}
