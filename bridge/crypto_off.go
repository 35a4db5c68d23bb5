//go:build !goolm

package bridge

import "errors"

// newCrypto fails: this binary was built without the goolm tag, so it has no Olm implementation.
func newCrypto(*Bridge) (bridgeCrypto, error) {
	return nil, errors.New("encryption.allow is set, but this binary was built without encryption support (build with -tags goolm)")
}

// isMissingKeys is false: without encryption support nothing is decrypted.
func isMissingKeys(error) bool { return false }
