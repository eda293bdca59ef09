export { configFromEnv, main } from './main.js'
export { createNotesServer, type NotesServerConfig } from './notes-server.js'
export { type Note, NotesStore } from './notes-store.js'
export { NOTES_SCOPES, registerNotesTools } from './notes-tools.js'
