import { type DiagnoseOptions, diagnose, type Finding } from './diagnose.js'
import type { OidcOptions } from './oidc.js'
import { type IdpPreset, isPreset } from './preset.js'

/** A logger with pino's `(object, message)` methods: Fastify's `app.log`, pino, or `console`. */
export interface DiagnosisLogger {
  error(object: Record<string, unknown>, message: string): void
  warn(object: Record<string, unknown>, message: string): void
  info(object: Record<string, unknown>, message: string): void
}

const LEVEL = { error: 'error', warning: 'warn', info: 'info' } as const

export interface LogDiagnosisOptions extends DiagnoseOptions {
  /** Throw after logging when a finding is an error, so a misconfigured server does not start. Default false. */
  throwOnError?: boolean
}

/**
 * Runs `diagnose` and logs each finding at its severity, `{ code, fix }` as fields: the start-up
 * check. Returns the findings. With `throwOnError`, errors stop the start-up after being logged.
 *
 * @example
 * app.addHook('onReady', async () => {
 *   await logDiagnosis(app.log, preset, { resource: 'https://mcp.example.com/mcp' })
 * })
 */
export async function logDiagnosis(
  log: DiagnosisLogger,
  target: IdpPreset | OidcOptions,
  options: LogDiagnosisOptions,
): Promise<Finding[]> {
  const { throwOnError, ...diagnoseOptions } = options
  const findings = await diagnose(target, diagnoseOptions)
  const idp = isPreset(target) ? target.description.name : 'oidc'
  for (const finding of findings) {
    log[LEVEL[finding.severity]](
      { idp, code: finding.code, fix: finding.fix },
      `portcullis ${idp}: ${finding.message}`,
    )
  }
  const errors = findings.filter((finding) => finding.severity === 'error')
  if (throwOnError === true && errors.length > 0) {
    throw new Error(
      `portcullis ${idp}: the IdP set-up has ${errors.length} error${errors.length === 1 ? '' : 's'} (${errors.map((e) => e.code).join(', ')}); see the log for the fixes`,
    )
  }
  return findings
}
