package wasim

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/coder/websocket"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/util/keys"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
	"google.golang.org/protobuf/proto"
)

// maxFrame is the largest frame either side may send (3-byte length prefix).
const maxFrame = 1<<24 - 1

// frameReader splits the websocket byte stream into length-prefixed frames. The client's first
// message starts with the connection header "WA" 6 3, which is stripped once.
type frameReader struct {
	ws         *websocket.Conn
	buf        []byte
	headerDone bool
}

func (fr *frameReader) next(ctx context.Context) ([]byte, error) {
	for {
		if len(fr.buf) >= 3 {
			size := int(fr.buf[0])<<16 | int(fr.buf[1])<<8 | int(fr.buf[2])
			if len(fr.buf) >= 3+size {
				frame := fr.buf[3 : 3+size : 3+size]
				fr.buf = fr.buf[3+size:]
				return frame, nil
			}
		}
		typ, data, err := fr.ws.Read(ctx)
		if err != nil {
			return nil, err
		} else if typ != websocket.MessageBinary {
			continue
		}
		if !fr.headerDone {
			if len(data) < len(socket.WAConnHeader) || string(data[:4]) != string(socket.WAConnHeader) {
				return nil, errors.New("missing connection header")
			}
			data = data[4:]
			fr.headerDone = true
		}
		fr.buf = append(fr.buf, data...)
	}
}

func writeFrame(ctx context.Context, ws *websocket.Conn, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("frame too large (%d bytes)", len(payload))
	}
	frame := make([]byte, 3+len(payload))
	frame[0], frame[1], frame[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	copy(frame[3:], payload)
	return ws.Write(ctx, websocket.MessageBinary, frame)
}

// symmetricState is the server half of Noise_XX_25519_AESGCM_SHA256 as WhatsApp uses it: the
// 32-byte protocol name is the initial hash itself, and the connection header is the prologue.
type symmetricState struct {
	hash    []byte
	ck      []byte
	aead    cipher.AEAD
	counter uint32
}

func newAEAD(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

func nonce(n uint32) []byte {
	iv := make([]byte, 12)
	binary.BigEndian.PutUint32(iv[8:], n)
	return iv
}

func (s *symmetricState) mixHash(data []byte) {
	sum := sha256.Sum256(append(append([]byte{}, s.hash...), data...))
	s.hash = sum[:]
}

func expand(salt, secret []byte) ([]byte, []byte) {
	r := hkdf.New(sha256.New, secret, salt, nil)
	out := make([]byte, 64)
	if _, err := io.ReadFull(r, out); err != nil {
		panic(err)
	}
	return out[:32], out[32:]
}

func (s *symmetricState) mixKey(priv, pub []byte) error {
	secret, err := curve25519.X25519(priv, pub)
	if err != nil {
		return err
	}
	var key []byte
	s.ck, key = expand(s.ck, secret)
	s.aead = newAEAD(key)
	s.counter = 0
	return nil
}

func (s *symmetricState) encrypt(plaintext []byte) []byte {
	ct := s.aead.Seal(nil, nonce(s.counter), plaintext, s.hash)
	s.counter++
	s.mixHash(ct)
	return ct
}

func (s *symmetricState) decrypt(ct []byte) ([]byte, error) {
	pt, err := s.aead.Open(nil, nonce(s.counter), ct, s.hash)
	s.counter++
	if err != nil {
		return nil, err
	}
	s.mixHash(ct)
	return pt, nil
}

// transport holds the per-direction keys after the handshake. The client writes with the first
// HKDF output, so the server reads with it.
type transport struct {
	read, write       cipher.AEAD
	readCtr, writeCtr uint32
}

func (t *transport) open(frame []byte) ([]byte, error) {
	pt, err := t.read.Open(nil, nonce(t.readCtr), frame, nil)
	t.readCtr++
	return pt, err
}

func (t *transport) seal(plaintext []byte) []byte {
	ct := t.write.Seal(nil, nonce(t.writeCtr), plaintext, nil)
	t.writeCtr++
	return ct
}

// handshakeResult is what the server learns from a completed handshake.
type handshakeResult struct {
	transport    *transport
	clientStatic [32]byte
	payload      *waWa6.ClientPayload
}

// serverHandshake runs the responder side of the handshake on a fresh websocket.
func serverHandshake(ctx context.Context, ws *websocket.Conn, fr *frameReader, static *keys.KeyPair, certChain []byte) (*handshakeResult, error) {
	s := &symmetricState{hash: []byte(socket.NoiseStartPattern)}
	s.ck = s.hash
	s.mixHash(socket.WAConnHeader)

	frame, err := fr.next(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read client hello: %w", err)
	}
	var hello waWa6.HandshakeMessage
	if err = proto.Unmarshal(frame, &hello); err != nil {
		return nil, fmt.Errorf("failed to parse client hello: %w", err)
	}
	clientEph := hello.GetClientHello().GetEphemeral()
	if len(clientEph) != 32 {
		return nil, errors.New("client hello has no 32-byte ephemeral key")
	}
	s.mixHash(clientEph)

	eph := keys.NewKeyPair()
	s.mixHash(eph.Pub[:])
	if err = s.mixKey(eph.Priv[:], clientEph); err != nil {
		return nil, err
	}
	encStatic := s.encrypt(static.Pub[:])
	if err = s.mixKey(static.Priv[:], clientEph); err != nil {
		return nil, err
	}
	encCert := s.encrypt(certChain)
	resp, err := proto.Marshal(&waWa6.HandshakeMessage{ServerHello: &waWa6.HandshakeMessage_ServerHello{
		Ephemeral: eph.Pub[:], Static: encStatic, Payload: encCert,
	}})
	if err != nil {
		return nil, err
	}
	if err = writeFrame(ctx, ws, resp); err != nil {
		return nil, fmt.Errorf("failed to send server hello: %w", err)
	}

	frame, err = fr.next(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read client finish: %w", err)
	}
	var finish waWa6.HandshakeMessage
	if err = proto.Unmarshal(frame, &finish); err != nil {
		return nil, fmt.Errorf("failed to parse client finish: %w", err)
	}
	clientStatic, err := s.decrypt(finish.GetClientFinish().GetStatic())
	if err != nil || len(clientStatic) != 32 {
		return nil, fmt.Errorf("failed to decrypt client static key: %v", err)
	}
	if err = s.mixKey(eph.Priv[:], clientStatic); err != nil {
		return nil, err
	}
	payloadBytes, err := s.decrypt(finish.GetClientFinish().GetPayload())
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt client payload: %w", err)
	}
	var payload waWa6.ClientPayload
	if err = proto.Unmarshal(payloadBytes, &payload); err != nil {
		return nil, fmt.Errorf("failed to parse client payload: %w", err)
	}
	k1, k2 := expand(s.ck, nil)
	return &handshakeResult{
		transport:    &transport{read: newAEAD(k1), write: newAEAD(k2)},
		clientStatic: [32]byte(clientStatic),
		payload:      &payload,
	}, nil
}
