import { isUriTemplate, uriTemplateMatcher } from '@portcullis/core/adapter'
import t from 'tap'

const cases: Array<[template: string, uri: string, matches: boolean]> = [
  ['notes://{id}', 'notes://42', true],
  ['notes://{id}', 'notes://', false],
  ['notes://{id}', 'notes://4/2', false],
  ['notes://{id}', 'notes://4,2', false],
  ['notes://{id*}', 'notes://4,2', true],
  ['notes://{id*}', 'notes://4,', false],
  ['notes://{id*}', 'notes://,4', false],
  ['notes://{id*}', 'notes://4,,2', false],
  ['notes://{id}/history', 'notes://42/history', true],
  ['notes://{id}/history', 'notes://42/historyx', false],
  ['file:///{+path}', 'file:///etc/hosts', true],
  ['file:///{+path}', 'file:///', false],
  ['file:///{+path}', 'file:///a\nb', false],
  ['x://{#frag}', 'x://a/b,c', true],
  ['x://a{.ext}', 'x://a.json', true],
  ['x://a{.ext}', 'x://a.', false],
  ['x://a{/seg}', 'x://a/b', true],
  ['x://a{/seg*}', 'x://a/b,c', true],
  ['x://a{/seg}', 'x://a/b/c', false],
  ['search://q{?term,limit}', 'search://q?term=mcp&limit=10', true],
  ['search://q{?term,limit}', 'search://q?term=mcp', false],
  ['search://q{?term}{&page}', 'search://q?term=a&page=2', true],
  ['search://q{?term}', 'search://q?term=', false],
  ['a.b://{x}', 'aXb://y', false],
  ['static://no-vars', 'static://no-vars', true],
  ['static://no-vars', 'static://no-varsx', false],
  ['x://{}', 'x://anything', true],
  ['x://{?}', 'x://', true],
]

t.test('matches the way the MCP SDK UriTemplate does', async (t) => {
  for (const [template, uri, expected] of cases) {
    t.equal(uriTemplateMatcher(template).matches(uri), expected, `${template} ~ ${JSON.stringify(uri)}`)
  }
})

t.test('isUriTemplate', async (t) => {
  t.ok(isUriTemplate('notes://{id}'))
  t.ok(isUriTemplate('q{?a}'))
  t.notOk(isUriTemplate('notes://all'))
  t.notOk(isUriTemplate('notes://{ }'))
  t.notOk(isUriTemplate('notes://{'))
})

t.test('bad templates throw a TypeError', async (t) => {
  t.throws(() => uriTemplateMatcher('x://{open'), TypeError)
  t.throws(() => uriTemplateMatcher(`x://${'{a}'.repeat(65)}`), { message: /64 expressions/ })
  t.throws(() => uriTemplateMatcher('x'.repeat(5000)), { message: /4096/ })
  t.throws(() => uriTemplateMatcher(42 as never), TypeError)
  t.notOk(uriTemplateMatcher('x://{a}').matches(42 as never))
})

t.test('linear time where a backtracking regex is not', async (t) => {
  // The SDK's regex for this template is ^x://(.+)a(.+)b(.+)c(.+)d$: polynomial backtracking.
  const matcher = uriTemplateMatcher('x://{+a}a{+b}b{+c}c{+d}d')
  const uri = `x://${'a'.repeat(20_000)}`
  const start = process.hrtime.bigint()
  t.notOk(matcher.matches(uri))
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  t.ok(ms < 1000, `20 000 characters in ${ms.toFixed(1)} ms`)
})
