/**
 * Matching a URI against an RFC 6570 URI template, with the same language as the MCP SDKs'
 * `UriTemplate.match` (1.x and 2.x), so a scope declared on a resource template applies to exactly
 * the URIs the SDK routes to that template. The SDK compiles a backtracking regular expression;
 * this runs the equivalent automaton in one pass (time linear in the URI), so a hostile URI cannot
 * stall the request before the SDK sees it.
 */

/** A compiled URI template that answers whether a URI matches it. */
export interface UriTemplateMatcher {
  readonly template: string
  matches(uri: string): boolean
}

// What one template expression matches, per operator (the SDK's `partToRegExp`):
// '' -> [^/,]+ ; exploded '' and '/' -> [^/,]+(?:,[^/,]+)* ; '+' '#' -> .+ ; '?' '&' -> name=[^&]+
type Token =
  | { kind: 'literal'; code: number }
  | { kind: 'segment' } // [^/,]+
  | { kind: 'list' } // [^/,]+(?:,[^/,]+)*
  | { kind: 'any' } // .+ (a regular expression's `.`: no line terminators)
  | { kind: 'query-value' } // [^&]+

/** Most expressions in one template: the SDK's own limit is far higher, real templates have a few. */
const MAX_EXPRESSIONS = 64
const MAX_TEMPLATE_LENGTH = 4096

const SLASH = 0x2f
const COMMA = 0x2c
const AMPERSAND = 0x26
const OPERATORS = '+#./?&'

/**
 * Whether a string is a URI template rather than a plain URI: it contains an expression such as
 * `{id}` or `{?q}` (the SDKs' `UriTemplate.isTemplate`).
 *
 * @example
 * isUriTemplate('notes://{id}') // true
 * isUriTemplate('notes://all') // false
 */
export function isUriTemplate(value: string): boolean {
  return /\{[^}\s]+\}/.test(value)
}

/**
 * Compiles a URI template for matching. Throws a TypeError for an unclosed expression (the SDKs
 * refuse such a template too) and for templates beyond 4096 characters or 64 expressions.
 *
 * @example
 * const notes = uriTemplateMatcher('notes://{id}')
 * notes.matches('notes://42') // true
 * notes.matches('notes://42/comments') // false, as in the SDK
 */
export function uriTemplateMatcher(template: string): UriTemplateMatcher {
  if (typeof template !== 'string') throw new TypeError('A URI template must be a string')
  if (template.length > MAX_TEMPLATE_LENGTH) {
    throw new TypeError(`URI template is longer than ${MAX_TEMPLATE_LENGTH} characters`)
  }
  const tokens = compile(template)
  // The literal text before the first expression and after the last: a cheap first filter.
  const literalRun = (list: readonly Token[]) => {
    let text = ''
    for (const token of list) {
      if (token.kind !== 'literal') break
      text += String.fromCharCode(token.code)
    }
    return text
  }
  const prefix = literalRun(tokens)
  const suffix = [...literalRun([...tokens].reverse())].reverse().join('')
  return Object.freeze({
    template,
    matches: (uri: string) =>
      typeof uri === 'string' && uri.startsWith(prefix) && uri.endsWith(suffix) && run(tokens, uri),
  })
}

function compile(template: string): Token[] {
  const tokens: Token[] = []
  const literal = (text: string) => {
    for (let i = 0; i < text.length; i++) tokens.push({ kind: 'literal', code: text.charCodeAt(i) })
  }
  let expressions = 0
  let i = 0
  while (i < template.length) {
    if (template[i] !== '{') {
      literal(template[i]!)
      i++
      continue
    }
    const end = template.indexOf('}', i)
    if (end === -1) throw new TypeError(`URI template ${JSON.stringify(template)} has an unclosed expression`)
    if (++expressions > MAX_EXPRESSIONS) {
      throw new TypeError(`URI template has more than ${MAX_EXPRESSIONS} expressions`)
    }
    const expression = template.slice(i + 1, end)
    const first = expression.charAt(0)
    const operator = first !== '' && OPERATORS.includes(first) ? first : ''
    const exploded = expression.includes('*')
    const names = expression
      .slice(operator.length)
      .split(',')
      .map((name) => name.replace('*', '').trim())
      .filter((name) => name.length > 0)
    switch (operator) {
      case '?':
      case '&':
        // Each name is matched as `?name=value` (the first) or `&name=value` (the others).
        names.forEach((name, index) => {
          literal(`${index === 0 ? operator : '&'}${name}=`)
          tokens.push({ kind: 'query-value' })
        })
        break
      case '+':
      case '#':
        tokens.push({ kind: 'any' })
        break
      case '.':
        literal('.')
        tokens.push({ kind: 'segment' })
        break
      case '/':
        literal('/')
        tokens.push({ kind: exploded ? 'list' : 'segment' })
        break
      default:
        tokens.push({ kind: exploded ? 'list' : 'segment' })
    }
    i = end + 1
  }
  return tokens
}

const isLineTerminator = (code: number) =>
  code === 0x0a || code === 0x0d || code === 0x2028 || code === 0x2029

/**
 * Runs the template's automaton over the URI (Thompson simulation: every reachable state at once).
 * State `3 * t + phase` is "at token t": phase 0 before it, 1 after at least one character of a
 * class (may leave), 2 right after a comma inside a list (needs another character). State sets are
 * arrays with a generation mark per state, so a step allocates nothing.
 */
function run(tokens: readonly Token[], uri: string): boolean {
  const accept = 3 * tokens.length
  const size = accept + 1
  let current = new Int32Array(size)
  let next = new Int32Array(size)
  let currentCount = 0
  let nextCount = 0
  const mark = new Uint32Array(size)
  let generation = 1
  const add = (state: number) => {
    if (mark[state] === generation) return
    mark[state] = generation
    next[nextCount++] = state
    // A class that has matched at least one character may end here: the next token starts.
    if (state % 3 === 1) add(state + 2)
  }
  add(0)
  ;[current, next] = [next, current]
  currentCount = nextCount
  for (let i = 0; i < uri.length && currentCount > 0; i++) {
    const code = uri.charCodeAt(i)
    generation++
    nextCount = 0
    for (let k = 0; k < currentCount; k++) {
      const state = current[k]!
      if (state === accept) continue
      const index = (state / 3) | 0
      const phase = state - 3 * index
      const token = tokens[index]!
      switch (token.kind) {
        case 'literal':
          if (phase === 0 && code === token.code) add(3 * (index + 1))
          break
        case 'segment':
          if (code !== SLASH && code !== COMMA) add(3 * index + 1)
          break
        case 'list':
          if (code === SLASH) break
          if (code !== COMMA) add(3 * index + 1)
          else if (phase === 1) add(3 * index + 2)
          break
        case 'any':
          if (!isLineTerminator(code)) add(3 * index + 1)
          break
        case 'query-value':
          if (code !== AMPERSAND) add(3 * index + 1)
          break
      }
    }
    ;[current, next] = [next, current]
    currentCount = nextCount
  }
  for (let k = 0; k < currentCount; k++) if (current[k] === accept) return true
  return false
}
