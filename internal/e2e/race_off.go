//go:build !race

package e2e

// raceEnabled reports whether this test binary was built with the race detector; the bridge binary
// is built the same way (BridgeBinary).
const raceEnabled = false
