// The core template matcher must accept exactly the URIs the MCP SDK routes to a template, or a
// scope declared on a resource template would not cover every URI the SDK serves from it.

import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js'
import { uriTemplateMatcher } from '@portcullis/core/adapter'
import fc from 'fast-check'
import t from 'tap'

const literal = fc.stringMatching(/^[a-z/:.,?&=]{0,4}$/)
const expression = fc
  .tuple(fc.constantFrom('', '+', '#', '.', '/', '?', '&'), fc.constantFrom('a', 'b', 'a,b', 'a*'))
  .map(([op, names]) => `{${op}${names}}`)
const template = fc
  .array(fc.tuple(literal, expression), { minLength: 1, maxLength: 3 })
  .chain((parts) => literal.map((tail) => parts.map(([l, e]) => l + e).join('') + tail))
const uriChars = fc.constantFrom('a', 'b', '/', ',', '.', '?', '&', '=', ':', '\n', '#')
const uri = fc.array(uriChars, { maxLength: 16 }).map((chars) => chars.join(''))

/** The SDK's answer, or undefined when the SDK itself throws (then it serves nothing). */
function sdkMatches(tpl: string, candidate: string): boolean | undefined {
  try {
    return new UriTemplate(tpl).match(candidate) !== null
  } catch {
    return undefined
  }
}

t.test('same answer as the SDK UriTemplate.match on random templates and URIs', async (t) => {
  let compared = 0
  let matched = 0
  fc.assert(
    fc.property(template, fc.array(uri, { minLength: 8, maxLength: 8 }), (tpl, uris) => {
      const ours = uriTemplateMatcher(tpl)
      for (const candidate of uris) {
        const theirs = sdkMatches(tpl, candidate)
        if (theirs === undefined) continue
        compared++
        if (theirs) matched++
        if (ours.matches(candidate) !== theirs) return false
      }
      return true
    }),
    { numRuns: 3000 },
  )
  t.ok(compared > 10_000, `${compared} comparisons`)
  t.ok(matched > 30, `${matched} of them matches`)
})

t.test('URIs generated from the template by the SDK always match', async (t) => {
  fc.assert(
    fc.property(
      template,
      fc.string({ minLength: 1, maxLength: 6 }),
      fc.string({ minLength: 1, maxLength: 6 }),
      (tpl, a, b) => {
        const expanded = new UriTemplate(tpl).expand({ a, b })
        const theirs = sdkMatches(tpl, expanded)
        if (theirs === undefined) return true
        return uriTemplateMatcher(tpl).matches(expanded) === theirs
      },
    ),
    { numRuns: 2000 },
  )
  t.pass('agrees on expanded URIs')
})
