package puppet

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/pushrules"
)

// masterRule is the ID of the server-default override push rule that, enabled, matches every event
// and notifies for none (Matrix spec, client-server API "Push Rules": predefined rules,
// .m.rule.master).
const masterRule = ".m.rule.master"

// MuteNotifications enables cli's account's master push rule (one request,
// PUT /_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled), so that the homeserver
// neither counts notifications nor evaluates further rules for that account. Ghosts and the bridge
// bot never read their notifications, yet a homeserver does that work for every local member of a
// room with every message (Dendrite v0.13: for each such member an insert into its notification
// table and an update of its unread counts per message); muted, each costs the homeserver only the
// rule match. Errors are the homeserver's answer (e.g. M_UNKNOWN_TOKEN); nothing else changes for
// the account, so a caller may log and go on.
func MuteNotifications(ctx context.Context, cli *mautrix.Client) error {
	if err := cli.SetPushRuleEnabled(ctx, "global", pushrules.OverrideRule, masterRule, true); err != nil {
		return fmt.Errorf("failed to enable the master push rule of %s: %w", cli.UserID, err)
	}
	return nil
}

// NotificationsMuted reports whether cli's account has its master push rule enabled
// (GET /_matrix/client/v3/pushrules/global/override/.m.rule.master).
func NotificationsMuted(ctx context.Context, cli *mautrix.Client) (bool, error) {
	rule, err := cli.GetPushRule(ctx, "global", pushrules.OverrideRule, masterRule)
	if err != nil {
		return false, fmt.Errorf("failed to read the master push rule of %s: %w", cli.UserID, err)
	}
	return rule.Enabled, nil
}
