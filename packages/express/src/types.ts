import type { SdkAuthInfo } from '@portcullis/core/adapter'

// `req.auth` has the MCP SDK's `AuthInfo` type, member for member: SDK 1.x declares `req.auth` on
// this same global interface (merged declarations must agree exactly) and 2.x's
// `express-serve-static-core` Request extends it, so an app may import `@portcullis/express` beside
// either SDK line and still compile. The verified caller with the fields the gate guarantees is
// `verifiedAuth(req)`.
declare global {
  namespace Express {
    interface Request {
      /**
       * The verified caller, set by the gate before the route's handlers run (the MCP SDK
       * transports read it from here). `undefined` on requests the gate lets through unverified
       * (`public` paths, `routes: 'declared'` without `protect()` / `requireScopes()`). For the
       * typed caller, use `verifiedAuth(req)`.
       */
      auth?: SdkAuthInfo
    }
  }
}
