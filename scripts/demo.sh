#!/usr/bin/env bash
# Runs the bridge locally for trying it out: a private Dendrite homeserver and matrix-whatsapp on
# loopback, with all state (SQLite databases, keys, configs, logs) in demo-data/ so that a second run
# continues where the first stopped. Prints where to sign in and how to talk to the bridge bot.
# Ctrl-C stops both processes cleanly. Delete demo-data/ to start over.
#
# Settings (environment): DEMO_DOMAIN (localhost), DEMO_HS_PORT (8008), DEMO_AS_PORT (29318),
# DEMO_USER (demo).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

domain="${DEMO_DOMAIN:-localhost}"
hs_port="${DEMO_HS_PORT:-8008}"
as_port="${DEMO_AS_PORT:-29318}"
user="${DEMO_USER:-demo}"
hs_url="http://127.0.0.1:$hs_port"
data="$root/demo-data"
bin="$root/.cache/bin"

step() { printf '\n==> %s\n' "$*"; }
random_secret() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

step "Installing Dendrite"
./scripts/install-dendrite.sh

step "Building matrix-whatsapp"
go build -o matrix-whatsapp ./cmd/matrix-whatsapp

mkdir -p "$data/dendrite" "$data/bridge"

# The bridge config (SQLite in demo-data/bridge). -g below fills in the tokens.
if [[ ! -f "$data/bridge/config.yaml" ]]; then
	step "Writing the bridge config"
	cat >"$data/bridge/config.yaml" <<-YAML
	homeserver:
	  address: "$hs_url"
	  domain: "$domain"
	appservice:
	  address: "http://127.0.0.1:$as_port"
	  hostname: 127.0.0.1
	  port: $as_port
	  id: whatsapp
	  bot:
	    username: whatsappbot
	    displayname: "WhatsApp bridge bot"
	    avatar: ""
	  as_token: "generate"
	  hs_token: "generate"
	database:
	  type: sqlite
	  uri: "$data/bridge/bridge.db"
	  max_open_conns: 10
	  max_idle_conns: 2
	bridge:
	  username_template: "whatsapp_{{.}}"
	  displayname_template: "{{or .FullName .PushName .Phone}} (WA)"
	  command_prefix: "!wa"
	  permissions:
	    "*": relay
	    "$domain": user
	    "@$user:$domain": admin
	whatsapp:
	  device_name: matrix-whatsapp
	  dial_address: ""
	  media_dial_address: ""
	  ca_file: ""
	  plain_http: false
	  noise_root_pubkey: ""
	logging:
	  level: debug
	  format: json
	  file: ""
	YAML
fi
if [[ ! -f "$data/bridge/registration.yaml" ]]; then
	step "Generating the appservice registration"
	(cd "$data/bridge" && "$root/matrix-whatsapp" -c config.yaml -r registration.yaml -g)
fi

# Dendrite: the CI config, made private (no federation, no open registration) with the event stream
# on disk. The edits match the config Dendrite v0.13.8 generates; each one is checked.
if [[ ! -f "$data/dendrite/dendrite.yaml" ]]; then
	step "Configuring Dendrite for $domain"
	secret="$(random_secret)"
	(cd "$data/dendrite" && "$bin/generate-config" -ci -dir "$data/dendrite" -server "$domain" >dendrite.yaml.new)
	(cd "$data/dendrite" && "$bin/generate-keys" --private-key matrix_key.pem)
	sed -i \
		-e 's/^\(  disable_federation:\) false$/\1 true/' \
		-e 's/^\(  registration_disabled:\) false$/\1 true/' \
		-e "s/^\(  registration_shared_secret:\) .*/\1 \"$secret\"/" \
		-e "s#^\(  config_files:\) \[\]#\1 [\"$data/bridge/registration.yaml\"]#" \
		-e 's/^\(  max_file_size_bytes:\) .*/\1 268435456/' \
		-e 's/^\(    in_memory:\) true$/\1 false/' \
		-e 's/^\(  level:\) trace$/\1 info/' \
		"$data/dendrite/dendrite.yaml.new"
	for want in 'disable_federation: true' 'registration_disabled: true' "registration_shared_secret: \"$secret\"" \
		"config_files: [\"$data/bridge/registration.yaml\"]" 'max_file_size_bytes: 268435456' 'in_memory: false'; do
		if ! grep -qF "$want" "$data/dendrite/dendrite.yaml.new"; then
			echo "Failed to configure Dendrite: '$want' not set in dendrite.yaml" >&2
			exit 1
		fi
	done
	mv "$data/dendrite/dendrite.yaml.new" "$data/dendrite/dendrite.yaml"
fi

dendrite_pid=""
bridge_pid=""
stop_all() {
	trap - INT TERM EXIT
	echo
	if [[ -n "$bridge_pid" ]] && kill -0 "$bridge_pid" 2>/dev/null; then
		echo "Stopping the bridge..."
		kill -TERM "$bridge_pid" 2>/dev/null || true
		wait "$bridge_pid" 2>/dev/null || true
	fi
	if [[ -n "$dendrite_pid" ]] && kill -0 "$dendrite_pid" 2>/dev/null; then
		echo "Stopping Dendrite..."
		kill -TERM "$dendrite_pid" 2>/dev/null || true
		wait "$dendrite_pid" 2>/dev/null || true
	fi
	echo "Stopped. State is kept in demo-data/."
}
on_signal() {
	stop_all
	exit 0
}
trap on_signal INT TERM
trap stop_all EXIT
# Job control gives each background process its own process group, so a Ctrl-C in the terminal
# reaches only this script, which then stops the bridge and Dendrite in order, once each.
set -m

step "Starting Dendrite on $hs_url (log: demo-data/dendrite.log)"
(cd "$data/dendrite" && exec "$bin/dendrite" -config dendrite.yaml -http-bind-address "127.0.0.1:$hs_port") \
	>>"$data/dendrite.log" 2>&1 &
dendrite_pid=$!
for i in $(seq 1 300); do
	if curl -fsS "$hs_url/_matrix/client/versions" >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$dendrite_pid" 2>/dev/null || [[ $i -eq 300 ]]; then
		echo "Dendrite did not start; last lines of demo-data/dendrite.log:" >&2
		tail -n 30 "$data/dendrite.log" >&2
		exit 1
	fi
	sleep 0.1
done

step "Starting the bridge on 127.0.0.1:$as_port (log: demo-data/bridge.log)"
(cd "$data/bridge" && exec "$root/matrix-whatsapp" -c config.yaml) >>"$data/bridge.log" 2>&1 &
bridge_pid=$!
for i in $(seq 1 300); do
	if curl -sS -o /dev/null "http://127.0.0.1:$as_port/_matrix/mau/live" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$bridge_pid" 2>/dev/null || [[ $i -eq 300 ]]; then
		echo "The bridge did not start; last lines of demo-data/bridge.log:" >&2
		tail -n 30 "$data/bridge.log" >&2
		exit 1
	fi
	sleep 0.1
done

if [[ ! -f "$data/credentials.txt" ]]; then
	step "Creating the Matrix account @$user:$domain"
	password="$(random_secret)"
	(cd "$data/dendrite" && "$bin/create-account" -config dendrite.yaml -url "$hs_url" \
		-username "$user" -password "$password") >>"$data/dendrite.log" 2>&1
	printf 'user: @%s:%s\npassword: %s\n' "$user" "$domain" "$password" >"$data/credentials.txt"
fi
password="$(sed -n 's/^password: //p' "$data/credentials.txt")"

cat <<-TEXT

	The bridge is running.

	  Homeserver URL:  $hs_url
	  User:            @$user:$domain
	  Password:        $password
	  Bridge bot:      @whatsappbot:$domain

	Sign in with any Matrix client (Element: choose "Sign in", edit the homeserver to $hs_url),
	then start a direct chat with @whatsappbot:$domain and send "help" to see the bridge's commands.
	Logs: demo-data/dendrite.log and demo-data/bridge.log. Press Ctrl-C to stop.
TEXT

# Wait until Ctrl-C, or until one of the processes ends on its own.
while kill -0 "$dendrite_pid" 2>/dev/null && kill -0 "$bridge_pid" 2>/dev/null; do
	sleep 1 &
	wait $! || true
done
echo "A process ended on its own; see demo-data/*.log." >&2
exit 1
