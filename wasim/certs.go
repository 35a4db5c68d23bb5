package wasim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCert"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// The root key signs the Noise certificate chain. whatsmeow checks the chain against its package
// variable WACertPubKey, so every simulator that clients of one process talk to must share one root
// key. The default is generated once per process; Options.RootKey overrides it for a server whose
// external clients were told a fixed key.
var (
	defaultRootOnce sync.Once
	defaultRoot     *keys.KeyPair
	installOnce     sync.Once
	installedRoot   [32]byte
)

func defaultRootKey() *keys.KeyPair {
	defaultRootOnce.Do(func() { defaultRoot = keys.NewKeyPair() })
	return defaultRoot
}

// DefaultRootPublicKey is the public half of the per-process root key used by servers that were not
// given Options.RootKey.
func DefaultRootPublicKey() [32]byte {
	return *defaultRootKey().Pub
}

// InstallRootKey sets whatsmeow.WACertPubKey to pub. whatsmeow reads that global during every
// handshake, so it is written once per process, here; a later call with a different key returns an
// error and changes nothing. Server.ConfigureClient calls it with the server's root key, so the
// first server that configures an in-process client decides (tests all use the default key).
func InstallRootKey(pub [32]byte) error {
	installOnce.Do(func() {
		installedRoot = pub
		whatsmeow.WACertPubKey = pub
	})
	if installedRoot != pub {
		return fmt.Errorf("whatsmeow already trusts root key %x, not %x", installedRoot[:4], pub[:4])
	}
	return nil
}

// ParseRootKey decodes a hex-encoded 32-byte root private key (as printed by cmd/wasim -root-key).
func ParseRootKey(s string) ([32]byte, error) {
	var out [32]byte
	raw, err := hex.DecodeString(s)
	if err != nil {
		return out, fmt.Errorf("failed to decode root key: %w", err)
	} else if len(raw) != 32 {
		return out, fmt.Errorf("root key must be 32 bytes, got %d", len(raw))
	}
	copy(out[:], raw)
	return out, nil
}

// makeCertChain builds root → intermediate → leaf, where the leaf certifies the server's static
// Noise key. Validity spans ten years around now.
func makeCertChain(root *keys.KeyPair, noisePub [32]byte) ([]byte, error) {
	intermediate := keys.NewKeyPair()
	now := time.Now()
	notBefore := uint64(now.Add(-24 * time.Hour).Unix())
	notAfter := uint64(now.Add(10 * 365 * 24 * time.Hour).Unix())
	interDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(1),
		IssuerSerial: proto.Uint32(whatsmeow.WACertIssuerSerial),
		Key:          intermediate.Pub[:],
		NotBefore:    proto.Uint64(notBefore),
		NotAfter:     proto.Uint64(notAfter),
	})
	if err != nil {
		return nil, err
	}
	leafDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(2),
		IssuerSerial: proto.Uint32(1),
		Key:          noisePub[:],
		NotBefore:    proto.Uint64(notBefore),
		NotAfter:     proto.Uint64(notAfter),
	})
	if err != nil {
		return nil, err
	}
	interSig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*root.Priv), interDetails)
	leafSig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*intermediate.Priv), leafDetails)
	return proto.Marshal(&waCert.CertChain{
		Intermediate: &waCert.CertChain_NoiseCertificate{Details: interDetails, Signature: interSig[:]},
		Leaf:         &waCert.CertChain_NoiseCertificate{Details: leafDetails, Signature: leafSig[:]},
	})
}

// makeTLS creates a throwaway CA and a server certificate for web.whatsapp.com, *.whatsapp.net and
// the loopback address, returning the server certificate and the CA in PEM form.
func makeTLS() (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wasim test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "web.whatsapp.com"},
		DNSNames:     []string{"web.whatsapp.com", "*.whatsapp.net", "whatsapp.net", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}, caPEM, nil
}
