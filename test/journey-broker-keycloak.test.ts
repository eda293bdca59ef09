// The MCP journey through the broker, with the dev IdP as the upstream in its keycloak shape.
import t from 'tap'
import { brokerJourneys } from './fixtures/broker-journeys.js'

brokerJourneys(t, 'keycloak')
