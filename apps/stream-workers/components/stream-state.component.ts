import type { Component, ComponentContext, ComponentDefinition } from '../manager/component.js';

export interface StreamState {
  status: 'idle' | 'live';
  title: string;
  /** Changes applied since the state was first created: survives restarts and handovers. */
  version: number;
  updatedAt: string;
}

const initialState = (): StreamState => ({ status: 'idle', title: '', version: 0, updatedAt: new Date().toISOString() });

/** KEYS: state  ARGV: json, generation, ttlSeconds. A write by an older lease generation than the
 *  last writer's is refused: a stale manager (its worker paused past its lease) cannot overwrite
 *  what the current one wrote. */
const FENCED_SET = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, saved = pcall(cjson.decode, cur)
  if ok and type(saved) == 'table' and tonumber(saved.generation or 0) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
`;
const TTL_SECONDS = 7 * 24 * 3600;

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
    if (saved) {
      const { generation: _writer, ...state } = JSON.parse(saved) as Partial<StreamState> & { generation?: number };
      this.state = { ...initialState(), ...state };
    }
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
    const next = { ...this.state, ...change, version: this.state.version + 1, updatedAt: new Date().toISOString() };
    const key = StreamStateServer.key(ctx.config.redisPrefix, ctx.userId);
    const written = await ctx.redis.eval(FENCED_SET, 1, key, JSON.stringify({ ...next, generation: ctx.generation }), ctx.generation, TTL_SECONDS);
    if (written !== 1) throw new Error('a newer manager of this user owns the stream state');
    this.state = next;
    return this.get();
  }

  info() {
    return { ...this.state };
  }
}

export const StreamStateComponent: ComponentDefinition = { name: 'StreamStateServer', create: () => new StreamStateServer() };
