/** Bolt's logger interface on top of our pino logger, so Bolt's own lines are structured and redacted too. */
import { type Logger as BoltLogger, LogLevel } from '@slack/bolt';
import type { Logger } from '../observability/logger.ts';

export function boltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ component: 'bolt' });
  const write =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...message: unknown[]) => {
      const error = message.find((part) => part instanceof Error);
      const text = message
        .filter((part) => !(part instanceof Error))
        .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
        .join(' ');
      if (error) child[level]({ err: error }, text);
      else child[level](text);
    };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    // Levels are owned by LOG_LEVEL (pino); Bolt's own setters are ignored on purpose.
    setLevel: () => {},
    getLevel: () => LogLevel.DEBUG,
    setName: () => {},
  };
}
