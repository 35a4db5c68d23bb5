//go:build goolm

package encryption

import (
	"context"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Cross-signing of the bridge device (encryption.self_sign). Homeservers differ in what they
// demand before they take a user's cross-signing keys (POST /keys/device_signing/upload): Synapse
// takes the first keys of a user without authentication (MSC3967); Dendrite v0.13.8 always demands
// m.login.password and checks it against the account's password hash, which an appservice user
// does not have until the homeserver's admin sets one (Dendrite's admin API resetPassword).

// selfSignRecoveryKey names the stored recovery key of the bot's cross-signing keys.
const selfSignRecoveryKey = "crypto.recovery_key"

// selfSign gives the bot cross-signing keys (once; the recovery key is kept in the database) and
// signs its device with them. Failures are logged: the bridge works without it, clients then show
// the bridge device as unverified.
func (h *Helper) selfSign(ctx context.Context) {
	// Whether the bot has cross-signing keys is asked of the homeserver: mautrix-go stores the
	// public keys locally before it uploads them, so after a refused upload the local store has
	// keys the homeserver does not.
	resp, err := h.client.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: map[id.UserID]mautrix.DeviceIDList{h.client.UserID: {}}})
	if err != nil {
		h.log.Warn().Err(err).Msg("Failed to check the bot's cross-signing keys on the homeserver")
		return
	}
	_, hasKeys := resp.MasterKeys[h.client.UserID]
	var verified bool
	if hasKeys {
		if _, verified, err = h.mach.GetOwnVerificationStatus(ctx); err != nil {
			h.log.Warn().Err(err).Msg("Failed to check the bot's cross-signing status")
			return
		}
	}
	stored, err := h.opts.KV.Get(ctx, selfSignRecoveryKey)
	if err != nil {
		h.log.Warn().Err(err).Msg("Failed to read the bot's recovery key")
		return
	}
	switch {
	case !hasKeys:
		if err = h.createCrossSigningKeys(ctx); err != nil {
			h.log.Warn().Err(err).Msg("Failed to cross-sign the bridge device; clients show it as unverified")
			return
		}
		h.log.Info().Msg("Created cross-signing keys and signed the bridge device")
	case !verified && stored != "":
		if err = h.mach.VerifyWithRecoveryKey(ctx, stored); err != nil {
			h.log.Warn().Err(err).Msg("Failed to sign the bridge device with the stored cross-signing keys")
			return
		}
		h.log.Info().Msg("Signed the bridge device with the stored cross-signing keys")
	case !verified:
		h.log.Warn().Msg("The bot has cross-signing keys this bridge does not know; the bridge device stays unsigned")
	}
}

// errPasswordDemanded explains a homeserver's demand for the bot's password before it takes
// cross-signing keys.
var errPasswordDemanded = errors.New("the homeserver demands the bot account's password to upload cross-signing keys " +
	"(Dendrite always does): have the homeserver's admin give the bot account a password and set encryption.self_sign_password")

// createCrossSigningKeys creates the bot's cross-signing keys, keeps their recovery key in the
// database (the private keys are in the bot's secret storage, encrypted with it), uploads the
// public keys and signs the device and the master key. The upload is first tried without
// authentication (a homeserver that implements MSC3967 accepts a user's first keys so); when the
// homeserver demands authentication, encryption.self_sign_password answers it.
func (h *Helper) createCrossSigningKeys(ctx context.Context) error {
	password := h.opts.Config.SelfSignPassword
	demanded := false
	uia := func(resp *mautrix.RespUserInteractive) any {
		demanded = true
		if password == "" || !resp.HasSingleStageFlow(mautrix.AuthTypePassword) {
			return nil
		}
		return &mautrix.ReqUIAuthLogin{
			BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword, Session: resp.Session},
			User:         h.client.UserID.String(),
			Password:     password,
		}
	}
	recoveryKey, _, err := h.mach.GenerateAndUploadCrossSigningKeys(ctx, uia, "")
	if recoveryKey != "" {
		if kvErr := h.opts.KV.Set(ctx, selfSignRecoveryKey, recoveryKey); kvErr != nil {
			h.log.Warn().Err(kvErr).Msg("Failed to store the bot's recovery key")
		}
	}
	if err != nil {
		if demanded && password == "" {
			return fmt.Errorf("%w: %w", errPasswordDemanded, err)
		}
		return fmt.Errorf("failed to upload the cross-signing keys: %w", err)
	}
	if err = h.mach.SignOwnDevice(ctx, h.mach.OwnIdentity()); err != nil {
		return fmt.Errorf("failed to sign the bridge device: %w", err)
	}
	if err = h.mach.SignOwnMasterKey(ctx); err != nil {
		return fmt.Errorf("failed to sign the bot's master key: %w", err)
	}
	return nil
}
