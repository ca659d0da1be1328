import type { SessionStatus } from '../../../libs/contracts/presence-types.js';

/** The default idle time: no mouse, keyboard, touch or scroll for this long makes a tab `idle`. */
export const DEFAULT_IDLE_MS = 60_000;

export interface ActivityTracker {
  current(): SessionStatus;
  stop(): void;
}

/**
 * A tab's status from the Page Visibility API (`hidden` in the background) and an idle timer
 * (`idle` after `idleMs` without input). Also says goodbye on `pagehide` (so the leave is `closed`,
 * not `lost` with its own grace) and comes back on `pageshow` from the back-forward cache.
 * Only where there is a document: in Node it returns null and the status is the caller's.
 */
export function trackActivity(opts: { idleMs: number; onChange: (status: SessionStatus) => void; onPageHide: () => void; onPageShow: () => void }): ActivityTracker | null {
  if (typeof document === 'undefined' || typeof window === 'undefined') return null;
  let idle = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const current = (): SessionStatus => (document.hidden ? 'hidden' : idle ? 'idle' : 'visible');
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      opts.onChange(current());
    }, opts.idleMs);
  };
  const onActivity = () => {
    arm();
    if (idle) {
      idle = false;
      opts.onChange(current());
    }
  };
  const onVisibility = () => {
    if (!document.hidden) {
      idle = false;
      arm();
    }
    opts.onChange(current());
  };
  const onPageShow = (ev: PageTransitionEvent) => {
    if (ev.persisted) opts.onPageShow();
  };
  const activityEvents = ['mousemove', 'keydown', 'pointerdown', 'scroll', 'touchstart'] as const;
  for (const ev of activityEvents) window.addEventListener(ev, onActivity, { passive: true, capture: true });
  document.addEventListener('visibilitychange', onVisibility);
  window.addEventListener('pagehide', opts.onPageHide);
  window.addEventListener('pageshow', onPageShow);
  arm();
  return {
    current,
    stop() {
      clearTimeout(timer);
      for (const ev of activityEvents) window.removeEventListener(ev, onActivity, { capture: true });
      document.removeEventListener('visibilitychange', onVisibility);
      window.removeEventListener('pagehide', opts.onPageHide);
      window.removeEventListener('pageshow', onPageShow);
    },
  };
}
