export {
  type BrokerNotesServerConfig,
  createBrokerNotesServer,
  NOTES_ROLES,
  NOTES_SCOPE_LIST,
} from './broker-notes-server.js'
export { type BrokerListenConfig, configFromEnv, main } from './main.js'
