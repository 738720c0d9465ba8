import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * JSON logs. Credentials never reach them: Authorization headers and anything named like a
 * token are redacted even if some code path tries to log them.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'amber' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', '*.token', 'tokens'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
