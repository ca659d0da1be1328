/**
 * Log lines take strings from clients and from the bus (subjects, event names, validation errors
 * quoting what was received). A control character in one could forge a line (a newline), rewrite
 * the terminal (an ESC sequence) or hide text (a carriage return): such characters are written as
 * visible escapes instead.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
// eslint-disable-next-line no-control-regex -- the same, newline and tab excepted
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

const escape = (c: string) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** One line, every control character escaped: for a value from outside put into a log line. */
export function printable(s: string): string {
  return s.replace(CONTROL, escape);
}

/**
 * The logger's own last line of defence on every message: control characters escaped, except the
 * newlines and tabs of the project's own multi-line messages (stack traces).
 */
export function printableMessage(s: string): string {
  return s.replace(CONTROL_BUT_LINES, escape);
}
