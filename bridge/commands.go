package bridge

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/version"
)

// command is one management command.
type command struct {
	Name    string
	Aliases []string
	Args    string
	Help    string
	// Level is the permission level needed to run it.
	Level int
	// FromLogin lets the command end in `from <number>`, naming the login it acts through
	// instead of the default one (commandEvent.user is then that login).
	FromLogin bool
	Handler   func(ctx context.Context, ce *commandEvent)
}

// commandEvent is one invocation of a command.
type commandEvent struct {
	br *Bridge
	// user is the account the command acts for (commandAccount); user.User is the Matrix user.
	user         *Account
	roomID       id.RoomID
	eventID      id.EventID
	isManagement bool
	// replyTo is the event the command replies to ("" for none).
	replyTo id.EventID
	// text is the message without the command prefix; command and args are split from it.
	text    string
	command string
	args    []string
	replyN  int
}

// reply answers in the room of the command. Replies to the same command event are deduplicated by
// the homeserver, so a command handled twice after a crash does not answer twice.
func (ce *commandEvent) reply(ctx context.Context, format string, args ...any) {
	ce.replyN++
	ce.br.sendBotNoticeTxn(ctx, ce.roomID, fmt.Sprintf("reply-%s-%d", ce.eventID, ce.replyN), fmt.Sprintf(format, args...))
}

type commandRegistry struct {
	byName map[string]*command
	list   []*command
}

func newCommandRegistry() *commandRegistry {
	return &commandRegistry{byName: make(map[string]*command)}
}

func (reg *commandRegistry) add(cmd *command) {
	reg.list = append(reg.list, cmd)
	reg.byName[cmd.Name] = cmd
	for _, alias := range cmd.Aliases {
		reg.byName[alias] = cmd
	}
}

// registerCommands lists every command the bot knows.
func (br *Bridge) registerCommands() {
	br.commands.add(&command{
		Name: "help", Aliases: []string{"commands"}, Level: config.LevelRelay,
		Help: "Show this list of commands.", Handler: cmdHelp,
	})
	br.commands.add(&command{
		Name: "login", Args: "[+phone number]", Level: config.LevelUser, Handler: cmdLogin,
		Help: "Link WhatsApp: shows a QR code to scan, or with a phone number a code to type on the phone. Once logged in, this adds another WhatsApp account.",
	})
	br.commands.add(&command{
		Name: "passkey", Args: "<answer> | confirm", Level: config.LevelUser, Handler: cmdPasskey,
		Help: "Answer WhatsApp's passkey step during a login: the signed request, or `confirm` for the code check.",
	})
	br.commands.add(&command{
		Name: "cancel", Level: config.LevelUser, Handler: cmdCancel,
		Help: "Abort a login in progress.",
	})
	br.commands.add(&command{
		Name: "logout", Args: "[number]", Level: config.LevelUser, Handler: cmdLogout,
		Help: "Log out of WhatsApp (the named login, else the default one) and remove this bridge from that phone's linked devices.",
	})
	br.commands.add(&command{
		Name: "list-logins", Aliases: []string{"logins"}, Level: config.LevelUser, Handler: cmdListLogins, // cmd_logins.go
		Help: "List your WhatsApp logins and which one is the default.",
	})
	br.commands.add(&command{
		Name: "set-default-login", Args: "<number>", Level: config.LevelUser, Handler: cmdSetDefaultLogin,
		Help: "Make a login the default: the one commands (outside a chat's room) and new chats use.",
	})
	br.commands.add(&command{
		Name: "status", Aliases: []string{"ping"}, Args: "[number]", Level: config.LevelUser, Handler: cmdStatus,
		Help: "Show who you are logged in as and the connection state (of every login, or the named one).",
	})
	br.commands.add(&command{
		Name: "reconnect", Args: "[number]", Level: config.LevelUser, Handler: cmdReconnect,
		Help: "Reconnect to WhatsApp now.",
	})
	br.commands.add(&command{
		Name: "double-puppet", Args: "[on|off]", Level: config.LevelUser, Handler: cmdDoublePuppet,
		Help: "Show what you do on your phone as your own Matrix account (on) or as your WhatsApp ghost (off).",
	})
	br.commands.add(&command{
		Name: "disconnect", Args: "[number]", Level: config.LevelUser, Handler: cmdDisconnect,
		Help: "Close the WhatsApp connection without logging out.",
	})
	br.commands.add(&command{
		Name: "delete-session", Args: "[number]", Level: config.LevelUser, Handler: cmdDeleteSession,
		Help: "Forget the WhatsApp session without logging out (for broken sessions).",
	})
	br.commands.add(&command{
		Name: "list-contacts", Aliases: []string{"search", "contacts"}, Args: "[name or number] [from <your number>]", Level: config.LevelUser, Handler: cmdListContacts, FromLogin: true,
		Help: "List your WhatsApp contacts, or those matching the search.",
	})
	br.commands.add(&command{
		Name: "pm", Args: "<+phone number> [from <your number>]", Level: config.LevelUser, Handler: cmdPM, FromLogin: true,
		Help: "Open a direct chat with a WhatsApp number (through your default login, or the one named after `from`). Inviting a contact's ghost to a new room works too.",
	})
	br.commands.add(&command{
		Name: "join", Args: "<invite link> [from <your number>]", Level: config.LevelUser, Handler: cmdJoin, FromLogin: true, // groups.go
		Help: "Join a WhatsApp group by its invite link (https://chat.whatsapp.com/…) with your default login or the one named after `from`; you are invited to its room.",
	})
	br.commands.add(&command{
		Name: "invite-link", Args: "[reset]", Level: config.LevelUser, Handler: cmdInviteLink,
		Help: "In a group's room: show the group's invite link (admins only); `reset` revokes it and makes a new one.",
	})
	br.commands.add(&command{
		Name: "set-relay", Level: config.LevelUser, Handler: cmdSetRelay, // relay.go
		Help: "In a chat's room: send the messages of Matrix users without a WhatsApp login through your account (if `bridge.relay` allows).",
	})
	br.commands.add(&command{
		Name: "unset-relay", Level: config.LevelUser, Handler: cmdUnsetRelay,
		Help: "In a chat's room: stop relaying messages of users without a login.",
	})
	br.commands.add(&command{
		Name: "sync-history", Args: "[count]", Level: config.LevelUser, Handler: cmdSyncHistory, // history_cmd.go
		Help: "In a chat's room: ask your phone for earlier messages of the chat (default 50) and post them.",
	})
	br.commands.add(&command{
		Name: "import", Args: "[chat] [from <your number>]", Level: config.LevelUser, Handler: cmdImport, FromLogin: true, // cmd_import.go
		Help: "Import a WhatsApp chat export (.zip or .txt) you uploaded: in the chat's room, or here naming the chat (number or name).",
	})
	br.commands.add(&command{
		Name: "disappearing", Args: "<off|24h|7d|90d>", Level: config.LevelUser, Handler: cmdDisappearing,
		Help: "In a chat's room: turn disappearing messages off, or on with the time new messages last.",
	})
	br.commands.add(&command{
		Name: "create", Level: config.LevelUser, Handler: cmdCreate, // cmd_create.go
		Help: "In a named room with contacts' ghosts invited: create a WhatsApp group of them; the room becomes its chat.",
	})
	br.commands.add(&command{
		Name: "request-media", Level: config.LevelUser, Handler: cmdRequestMedia,
		Help: "Reply with this to the notice of media WhatsApp no longer has: your phone is asked to upload it again.",
	})
	br.commands.add(&command{
		Name: "version", Level: config.LevelRelay,
		Help: "Show the bridge version.", Handler: cmdVersion,
	})
}

// maxCommandName is how much of an unknown command's name (bytes) is logged and quoted back.
const maxCommandName = 64

// handleCommand runs one command. Users without permission get a refusal, unknown commands a hint.
func (br *Bridge) handleCommand(ctx context.Context, ce *commandEvent) {
	fields := strings.Fields(ce.text)
	if len(fields) == 0 {
		ce.reply(ctx, "That was an empty command. Send `%s` for the list of commands.", ce.helpHint())
		return
	}
	ce.command, ce.args = strings.ToLower(fields[0]), fields[1:]
	if len(ce.command) > maxCommandName {
		// No command is this long; its name goes into logs and the reply, so it is cut.
		keep := maxCommandName
		for !utf8.RuneStart(ce.command[keep]) {
			keep--
		}
		ce.command = ce.command[:keep] + "…"
	}
	log := zerolog.Ctx(ctx).With().Str("command", ce.command).Logger()
	ctx = log.WithContext(ctx)
	cmd, ok := br.commands.byName[ce.command]
	if level := ce.user.PermissionLevel(); level < config.LevelUser && (!ok || level < cmd.Level) {
		// Below "user" only the commands of the user's level (help, version) are answered.
		log.Info().Msg("Refusing command from user without permission")
		ce.reply(ctx, "Sorry, you are not allowed to use this bridge.")
		return
	}
	if !ok {
		ce.reply(ctx, "Unknown command `%s`. Send `%s` for the list of commands.", ce.command, ce.helpHint())
		return
	}
	if ce.user.PermissionLevel() < cmd.Level {
		ce.reply(ctx, "You do not have permission to use `%s`.", cmd.Name)
		return
	}
	if cmd.FromLogin && !ce.takeFromLogin(ctx) {
		return
	}
	log.Debug().Msg("Running command")
	cmd.Handler(ctx, ce)
}

// prefix is what a command must start with in this room: nothing in the management room.
func (ce *commandEvent) prefix() string {
	if ce.isManagement {
		return ""
	}
	return ce.br.Config.Bridge.CommandPrefix + " "
}

func (ce *commandEvent) helpHint() string {
	return ce.prefix() + "help"
}

func cmdHelp(ctx context.Context, ce *commandEvent) {
	var sb strings.Builder
	if ce.isManagement {
		sb.WriteString("This is your management room: commands need no prefix here.\n\n")
	} else {
		fmt.Fprintf(&sb, "Commands start with `%s` in this room.\n\n", ce.br.Config.Bridge.CommandPrefix)
	}
	cmds := append([]*command(nil), ce.br.commands.list...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	level := ce.user.PermissionLevel()
	for _, cmd := range cmds {
		if level < cmd.Level {
			continue
		}
		usage := ce.prefix() + cmd.Name
		if cmd.Args != "" {
			usage += " " + cmd.Args
		}
		for _, alias := range cmd.Aliases {
			usage += "` / `" + ce.prefix() + alias
			if cmd.Args != "" {
				usage += " " + cmd.Args
			}
		}
		fmt.Fprintf(&sb, "* `%s` - %s\n", usage, cmd.Help)
	}
	if level < config.LevelUser {
		sb.WriteString("\nYou are not allowed to use this bridge, so the other commands are hidden.\n")
	}
	ce.reply(ctx, "%s", sb.String())
}

func cmdVersion(ctx context.Context, ce *commandEvent) {
	ce.reply(ctx, "matrix-whatsapp %s", version.Get())
}

// commandAccount is the account a command acts for: in a chat's room the account the user acts
// through there (User.AccountForChat: a 1:1 chat's own account), else the user's default
// account. Commands that name a login (`logout <number>`, `from <number>`) pick it themselves.
func (br *Bridge) commandAccount(ctx context.Context, user *User, roomID id.RoomID, isManagement bool) *Account {
	if !isManagement {
		if p, err := br.portals.GetByMXID(ctx, roomID); err == nil && p != nil {
			return user.AccountForChat(p.Key)
		}
	}
	return user.Default()
}

// takeFromLogin removes a trailing `from <phone number>` from the arguments and makes that login
// the one the command acts through (a `from` followed by anything else is left as it is). It answers the user itself and returns false when the number is
// not one of the user's logins.
func (ce *commandEvent) takeFromLogin(ctx context.Context) bool {
	for i := len(ce.args) - 2; i >= 0; i-- {
		if !strings.EqualFold(ce.args[i], "from") {
			continue
		}
		named := strings.Join(ce.args[i+1:], "")
		if _, ok := phoneDigits(named); !ok {
			// "from" is part of what the user typed (a name to search for, say).
			return true
		}
		acct := ce.user.Account(named)
		if acct == nil {
			ce.reply(ctx, "`%s` is not one of your WhatsApp logins. Send `%slist-logins` to see them.", strings.Join(ce.args[i+1:], " "), ce.prefix())
			return false
		}
		ce.user, ce.args = acct, ce.args[:i]
		return true
	}
	return true
}
