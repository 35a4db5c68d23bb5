// Package tests holds the end-to-end tests of the bridge: the bridge binary, a real Dendrite and,
// for the WhatsApp side, the wasim simulator with real whatsmeow clients, driven the way a user
// would drive them from a Matrix client. The environment itself is internal/e2e.
package tests
