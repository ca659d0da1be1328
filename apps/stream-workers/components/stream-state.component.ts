import type { Component, ComponentContext, ComponentDefinition } from '../manager/component.js';

export interface StreamState {
  status: 'idle' | 'live';
  title: string;
  /** Changes applied since the state was first created: survives restarts and handovers. */
  version: number;
  updatedAt: string;
}

const initialState = (): StreamState => ({ status: 'idle', title: '', version: 0, updatedAt: new Date().toISOString() });

/**
 * A stateful component: the user's stream state, kept in Redis so that a restart of the component
 * (after a crash) or of the manager on another worker (after a handover) picks up where it was.
 * Read and changed with a request on stream.state.<userId> (see StreamStateRequests).
 */
export class StreamStateServer implements Component {
  private state: StreamState = initialState();
  private ctx?: ComponentContext;

  static key(prefix: string, userId: string) {
    return `${prefix}:{${userId}}:stream-state`;
  }

  async start(ctx: ComponentContext) {
    this.ctx = ctx;
    const saved = await ctx.redis.get(StreamStateServer.key(ctx.config.redisPrefix, ctx.userId));
    if (saved) this.state = { ...initialState(), ...(JSON.parse(saved) as Partial<StreamState>) };
  }

  stop() {
    this.ctx = undefined;
  }

  get(): StreamState {
    return { ...this.state };
  }

  async set(change: Partial<Pick<StreamState, 'status' | 'title'>>): Promise<StreamState> {
    const ctx = this.ctx;
    if (!ctx) throw new Error('StreamStateServer is not running');
    this.state = { ...this.state, ...change, version: this.state.version + 1, updatedAt: new Date().toISOString() };
    await ctx.redis.set(StreamStateServer.key(ctx.config.redisPrefix, ctx.userId), JSON.stringify(this.state), 'EX', 7 * 24 * 3600);
    return this.get();
  }

  info() {
    return { ...this.state };
  }
}

export const StreamStateComponent: ComponentDefinition = { name: 'StreamStateServer', create: () => new StreamStateServer() };
