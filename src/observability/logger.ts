/**
 * Structured JSON logs (pino). Secrets never reach a log line: known secret fields are redacted by path, and
 * token-shaped strings are masked by the serializer.
 */
import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

// `sk-` needs eight characters after it, checked by a lookahead so one `[\w-]+` takes the rest for every kind (the
// same matches as `sk-[\w-]{8,}`, and a pattern recheck can prove linear).
const secretPattern = /\b(?:xox[abposr]-|xapp-|sk-(?=[\w-]{8}))[\w-]+/g;

export function maskSecrets(text: string): string {
  return text.replace(secretPattern, (match) => `${match.slice(0, 5)}…redacted`);
}

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: 'deskhand' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        '*.token',
        '*.botToken',
        '*.signingSecret',
        '*.apiKey',
        '*.authorization',
        '*.headers.authorization',
        '*.headers["x-slack-signature"]',
        'config.slackBotToken',
        'config.slackSigningSecret',
        'config.slackAppToken',
        'config.openaiApiKey',
        'config.qdrantApiKey',
      ],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
    serializers: {
      err: (error: unknown) => {
        const serialized = pino.stdSerializers.err(error as Error);
        if (typeof serialized.message === 'string') serialized.message = maskSecrets(serialized.message);
        if (typeof serialized.stack === 'string') serialized.stack = maskSecrets(serialized.stack);
        return serialized;
      },
    },
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that writes nothing, for tests and benchmarks that do not inspect logs. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
