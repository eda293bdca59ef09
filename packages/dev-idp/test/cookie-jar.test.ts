import { CookieJar } from '@portcullis/dev-idp'
import t from 'tap'

// The headless browser's cookies (RFC 6265): per host and path, replaced and expired by name.

t.test('a cookie goes back to its host, on its path and below it', async (t) => {
  const jar = new CookieJar()
  jar.store(new URL('http://127.0.0.1:4000/interaction/abc'), [
    '_interaction=one; path=/interaction/abc; httponly',
    '_session=s; path=/',
    'plain=p',
  ])
  t.equal(
    jar.header(new URL('http://127.0.0.1:4000/interaction/abc/login')),
    '_interaction=one; _session=s; plain=p',
  )
  t.equal(
    jar.header(new URL('http://127.0.0.1:9999/interaction/abcdef')),
    '_session=s; plain=p',
    'not a sibling path; ports ignored',
  )
  t.equal(
    jar.header(new URL('http://127.0.0.1:4000/auth')),
    '_session=s',
    'the default path is the request path up to its last slash',
  )
  t.equal(jar.header(new URL('http://localhost:4000/')), undefined, 'another host gets none')
})

t.test('a cookie is replaced by name and path, and removed when expired', async (t) => {
  const jar = new CookieJar()
  const url = new URL('http://idp.example/')
  jar.store(url, ['a=1; Path=/', 'b=2; Path=/', 'c=3; Path=/'])
  jar.store(url, [
    'a=10; Path=/',
    'b=; Max-Age=0; Path=/',
    'c=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/',
  ])
  t.equal(jar.header(url), 'a=10')
  jar.store(url, ['=nameless', 'novalue', 'd=x=y; Path=/'])
  t.equal(jar.header(url), 'a=10; d=x=y', 'a value may hold "="; a pair without a name is ignored')
})
