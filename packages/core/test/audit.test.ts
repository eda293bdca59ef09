import { AUDIT_CHANNEL, type AuditEvent, onAuditEvent } from '@portcullis/core'
import { auditing } from '@portcullis/core/adapter'
import t from 'tap'
import { auditAuthentication } from '../src/gate/gate-audit.js'

t.test('nobody listening: results pass through untouched, no event is built', async (t) => {
  t.equal(auditing(), false)
  const result = { ok: false } as never
  t.equal(auditAuthentication('https://mcp.example.com/mcp', result), result, 'the same object')
  const pending = Promise.resolve(result)
  t.equal(
    auditAuthentication('https://mcp.example.com/mcp', pending),
    pending,
    'the same promise, no extra tick',
  )
})

t.test('a listener that throws does not break the publisher; stopping unsubscribes', async (t) => {
  const seen: AuditEvent[] = []
  const stopBad = onAuditEvent(() => {
    throw new Error('listener bug')
  })
  const stop = onAuditEvent((event) => seen.push(event))
  t.equal(auditing(), true)
  const refused = {
    ok: false,
    error: { reason: 'credentials_missing', status: 401 },
    log: { severity: 'rejection', fields: { reason: 'credentials_missing', status: 401 } },
  } as never
  t.doesNotThrow(() => auditAuthentication('https://mcp.example.com/mcp', refused))
  t.match(seen, [{ version: 1, outcome: 'refused', reason: 'credentials_missing', status: 401 }])
  stop()
  stopBad()
  t.equal(auditing(), false)
  t.equal(AUDIT_CHANNEL, 'portcullis:audit')
})
