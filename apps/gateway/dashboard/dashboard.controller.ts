import { Body, Controller, ForbiddenException, Get, Header, Inject, NotFoundException, Param, Post, BadRequestException, StreamableFile } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { USER_ID_RE } from '#libs/contracts/index.js';
import { signToken } from '#libs/auth/index.js';
import { DashboardAssets } from './dashboard-assets.js';

/** The dashboard page at /dashboard and every page under it, its assets, and a sign-in helper in development. */
@Controller()
export class DashboardController {
  private readonly assets: DashboardAssets;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.assets = new DashboardAssets({ devSignIn: config.development });
  }

  @Get(['dashboard', 'dashboard/*path'])
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page() {
    return this.assets.html;
  }

  /** The page's script and stylesheet (built by npm run build); revalidated, as they change with each build. */
  @Get('dashboard-assets/:file')
  @Header('Cache-Control', 'no-cache')
  asset(@Param('file') file: string) {
    const found = this.assets.asset(file);
    if (!found) throw new NotFoundException();
    return new StreamableFile(found.body, { type: found.type });
  }

  /** Development only: a token for any user id, so a person can try the dashboard. */
  @Post('dev/token')
  async devToken(@Body() body: unknown) {
    if (!this.config.development) throw new ForbiddenException('sign-in by user id is disabled outside development mode');
    const userId = (body as { userId?: unknown } | undefined)?.userId;
    if (typeof userId !== 'string' || !USER_ID_RE.test(userId)) {
      throw new BadRequestException('userId must match ^[A-Za-z0-9_-]{1,64}$');
    }
    return { token: await signToken(this.config.authJwtSecret, userId, { expiresIn: '12h' }) };
  }
}
