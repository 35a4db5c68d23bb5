// Package matrixwhatsapp holds what the whole module shares from its root: the example config,
// which the bridge uses to upgrade older configs (config.Upgrade).
package matrixwhatsapp

import _ "embed"

// ExampleConfig is example-config.yaml of this version: every option with its comment.
//
//go:embed example-config.yaml
var ExampleConfig []byte
