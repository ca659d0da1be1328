import { Controller, Get, Header, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Metrics } from '#libs/observability/metrics.js';
import { Readiness } from './readiness.js';

/** GET /health (200 ready and connected, 503 otherwise) and GET /metrics (Prometheus). */
@Controller()
export class ObservabilityController {
  constructor(
    private readonly readiness: Readiness,
    private readonly metrics: Metrics,
  ) {}

  @Get('health')
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
