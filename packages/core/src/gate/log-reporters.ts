// Where an adapter's reports are written by default: a pino-style logger (Fastify's `request.log`
// and `fastify.log`), or the console where the framework has no logger (Express). What is reported
// and in which words is `adapter-reports.ts`'s; this only writes it.
import { z } from 'zod'
import type { AuditEvent } from '../telemetry/audit.js'
import type { KeySetEvent } from '../token/key-set-events.js'
import { type AdapterOptions, adapterOptionsShape, listenerSchema } from './adapter-options.js'
import {
  type AdapterReporters,
  FAILED_MESSAGE,
  keySetEventReport,
  REJECTED_MESSAGE,
} from './adapter-reports.js'
import type { RejectionLog } from './gate-types.js'

/** The levels of a pino-style logger. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevelName = (typeof LOG_LEVELS)[number]

/** A pino-style logger: `log[level](fields, message)`. */
export type LevelLogger = Record<LogLevelName, (fields: object, message: string) => void>

/** A reporting option that takes a log level (written to the logger) or a listener. */
export const levelOrListenerSchema = <F extends (...args: never[]) => unknown>() =>
  z.union([z.enum(LOG_LEVELS), listenerSchema<F>('a log level or a function')]).optional()

/** `onRejection` and `onAudit`, each a log level or a listener. */
export interface LevelOrListeners<R> {
  onRejection?: LogLevelName | AdapterReporters<R>['onRejection'] | undefined
  onAudit?: LogLevelName | AdapterReporters<R>['onAudit'] | undefined
}

/**
 * The options of an adapter with a logger on each request (Fastify): those of every adapter,
 * where `onRejection` and `onAudit` also take the level at which the request's logger writes them.
 */
export interface LoggingAdapterOptions<R>
  extends Omit<AdapterOptions<R>, 'onRejection' | 'onAudit'>,
    LevelOrListeners<R> {}

/** The shape of `LoggingAdapterOptions`. */
export const loggingAdapterOptionsShape = {
  ...adapterOptionsShape,
  onRejection: levelOrListenerSchema<(event: RejectionLog, request: unknown) => void>(),
  onAudit: levelOrListenerSchema<(event: AuditEvent, request: unknown) => void>(),
}

/**
 * The reporters for `onRejection` / `onAudit` given as levels or listeners. A level writes to the
 * request's logger (`logOf`): rejections at `onRejection` (default `'info'`; unexpected verifier
 * failures always at `error`), audit events at `onAudit` as `{ audit }` with `auditMessage`.
 */
export function levelReporters<R>(
  { onRejection = 'info', onAudit }: LevelOrListeners<R>,
  logOf: (request: R) => LevelLogger,
  auditMessage: string,
): AdapterReporters<R> {
  return {
    onRejection:
      typeof onRejection === 'function'
        ? onRejection
        : ({ severity, fields }: RejectionLog, request: R) => {
            if (severity === 'error') logOf(request).error(fields, FAILED_MESSAGE)
            else logOf(request)[onRejection](fields, REJECTED_MESSAGE)
          },
    onAudit:
      typeof onAudit === 'string'
        ? (audit: AuditEvent, request: R) => logOf(request)[onAudit]({ audit }, auditMessage)
        : onAudit,
  }
}

/** Writes each key set event to `log` (its fields under `keySet`). */
export const logKeySetEvents =
  (log: LevelLogger) =>
  (event: KeySetEvent): void => {
    const { level, message, keySet } = keySetEventReport(event)
    log[level]({ keySet }, message)
  }

/** Prints each key set event to the console, prefixed with `owner`. */
export const printKeySetEvents =
  (owner: string) =>
  (event: KeySetEvent): void => {
    const { level, message, keySet } = keySetEventReport(event)
    console[level](`${owner}: ${message}`, keySet)
  }

/** Prints unexpected verifier failures only (`severity: 'error'`) to the console, prefixed with `owner`. */
export const printFailures =
  (owner: string) =>
  (event: RejectionLog): void => {
    if (event.severity === 'error') console.error(`${owner}: ${FAILED_MESSAGE}`, event.fields)
  }
