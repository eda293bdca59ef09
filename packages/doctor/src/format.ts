import type { CheckGroup, CheckStatus, DoctorReport } from './check.js'

const GROUP_TITLES: Record<CheckGroup, string> = {
  challenge: '401 challenge',
  'resource-metadata': 'Protected resource metadata (RFC 9728)',
  cors: 'Browser clients (CORS)',
  'authorization-server': 'Authorization servers',
  token: 'Token',
}

const MARKS: Record<CheckStatus, string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' }

/** The checklist as text: a section per group, a fix under each warning and failure, a summary. */
export function formatReport(report: DoctorReport): string {
  const lines = [`portcullis doctor ${report.target}`]
  if (report.tokenFingerprint !== undefined) lines.push(`token fingerprint ${report.tokenFingerprint}`)
  let group: CheckGroup | undefined
  for (const check of report.checks) {
    if (check.group !== group) {
      group = check.group
      lines.push('', GROUP_TITLES[group])
    }
    lines.push(`  ${MARKS[check.status]}  ${check.message}`)
    if (check.fix !== undefined) lines.push(`        fix: ${check.fix}`)
  }
  const { pass, warn, fail, skip } = report.summary
  lines.push('', `${fail} failed, ${warn} warning(s), ${pass} passed${skip > 0 ? `, ${skip} skipped` : ''}`)
  return lines.join('\n')
}
