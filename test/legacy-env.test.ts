// The rename from Gatehouse: GATEHOUSE_* variables still configure the notes example for one release,
// with a deprecation warning each, and never override their PORTCULLIS_* twins.
import { configFromEnv, withLegacyEnv } from '@portcullis/example-notes-server'
import t from 'tap'

t.test('a GATEHOUSE_* variable fills its unset PORTCULLIS_* twin and warns once', async (t) => {
  const warnings: string[] = []
  const env = withLegacyEnv({ GATEHOUSE_ISSUER: 'https://old.example', OTHER: 'x' }, (m) => warnings.push(m))
  t.equal(env.PORTCULLIS_ISSUER, 'https://old.example')
  t.equal(env.OTHER, 'x')
  t.same(warnings, [
    'GATEHOUSE_ISSUER is deprecated and will stop working in the next release: set PORTCULLIS_ISSUER instead',
  ])
})

t.test('the new name wins and the old one is then ignored without a warning', async (t) => {
  const warnings: string[] = []
  const env = withLegacyEnv(
    { GATEHOUSE_ISSUER: 'https://old.example', PORTCULLIS_ISSUER: 'https://new.example' },
    (m) => warnings.push(m),
  )
  t.equal(env.PORTCULLIS_ISSUER, 'https://new.example')
  t.same(warnings, [])
})

t.test('configFromEnv reads the old names', async (t) => {
  const config = configFromEnv({
    GATEHOUSE_ISSUER: 'http://127.0.0.1:4000',
    GATEHOUSE_SDK: 'v1',
    PORT: '3100',
  })
  t.equal(config.issuer, 'http://127.0.0.1:4000')
  t.equal(config.sdk, 'v1')
  t.equal(config.resource, 'http://127.0.0.1:3100/mcp')
})
