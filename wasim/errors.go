package wasim

import "errors"

// Errors returned by the simulator's Go API.
var (
	// ErrConnectionClosed means the client's socket went away during an exchange.
	ErrConnectionClosed = errors.New("connection closed")
	// ErrAccountExists is returned by CreateAccount for a phone number that is already registered.
	ErrAccountExists = errors.New("account already exists")
	// ErrNoSuchAccount means no account has the given phone number.
	ErrNoSuchAccount = errors.New("no such account")
	// ErrNoSuchDevice means the account has no device with the given number.
	ErrNoSuchDevice = errors.New("no such device")
	// ErrInvalidQR means the scanned string is not a whatsmeow pairing QR code.
	ErrInvalidQR = errors.New("invalid QR code")
	// ErrUnknownRef means the QR code's ref belongs to no waiting client.
	ErrUnknownRef = errors.New("QR code does not belong to a waiting client")
	// ErrNoPendingPairing means no client asked for a pairing code for this account.
	ErrNoPendingPairing = errors.New("no client is waiting for a pairing code for this account")
	// ErrWrongPairingCode means the entered code does not match the client's.
	ErrWrongPairingCode = errors.New("wrong pairing code")
	// ErrServerClosed is returned after Close.
	ErrServerClosed = errors.New("server closed")
)
