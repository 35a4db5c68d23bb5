package wasim

import (
	"context"
	"fmt"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/whatsmeow"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// provisionPhone creates the account's primary phone: a whatsmeow device store made directly by
// the simulator (no pairing), registered as device 0, whose identity key is the account key that
// signs companions. It connects it and waits until it is online.
func (s *Server) provisionPhone(ctx context.Context, acct *Account) (*Contact, error) {
	container, db, err := openStore(ctx, s.storePath(acct), waLog.Zerolog(s.clientLog))
	if err != nil {
		return nil, err
	}
	dev := container.NewDevice()
	acct.identity = dev.IdentityKey
	pn := deviceJID(acct.pn, 0)
	dev.ID = &pn
	dev.LID = deviceJID(acct.lid, 0)
	dev.PushName = acct.pushName
	dev.Platform = "android"
	account, err := makeDeviceIdentity(acct, 0, *dev.IdentityKey.Pub)
	if err != nil {
		_ = container.Close()
		return nil, err
	}
	sig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*dev.IdentityKey.Priv),
		concat(whatsmeow.AdvDeviceSignaturePrefix, account.Details, dev.IdentityKey.Pub[:], account.AccountSignatureKey))
	account.DeviceSignature = sig[:]
	dev.Account = account
	if err = dev.Save(ctx); err != nil {
		_ = container.Close()
		return nil, fmt.Errorf("failed to save phone store: %w", err)
	}
	preKeys, err := seedPreKeys(ctx, db, pn)
	if err != nil {
		_ = container.Close()
		return nil, err
	}
	// The phone knows its own LID, as a real one does: peer messages from its companions come from
	// their phone-number JIDs and are decrypted with the LID sessions (whatsmeow decryptMessages).
	if err = dev.LIDs.PutLIDMapping(ctx, acct.lid, acct.pn); err != nil {
		_ = container.Close()
		return nil, fmt.Errorf("failed to store phone's own LID: %w", err)
	}
	s.stateLock.Lock()
	acct.container = container
	s.registerDeviceLocked(acct, &device{
		id:       0,
		noisePub: *dev.NoiseKey.Pub,
		regID:    dev.RegistrationID,
		identity: *dev.IdentityKey.Pub,
		signedPreKey: preKey{
			id: dev.SignedPreKey.KeyID, pub: *dev.SignedPreKey.Pub, sig: *dev.SignedPreKey.Signature,
		},
		preKeys: preKeys,
	})
	s.stateLock.Unlock()

	cli := s.NewClient(dev)
	contact := &Contact{EventLog: NewEventLog(), acct: acct, cli: cli}
	// Before the event log, so that the phone's name is announced when WaitConnected returns.
	cli.AddEventHandler(contact.announceOnConnect) // presence.go
	cli.AddEventHandler(contact.Add)
	cli.AddEventHandler(contact.answerPeerRequest) // resend.go
	err = cli.ConnectContext(context.WithoutCancel(ctx))
	if err == nil {
		err = contact.WaitConnected(ctx)
	}
	if err != nil {
		cli.Disconnect()
		_ = container.Close()
		return nil, fmt.Errorf("failed to bring phone of %s online: %w", acct.pn.User, err)
	}
	return contact, nil
}
