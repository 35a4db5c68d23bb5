#!/usr/bin/env bash
# Runs the bridge locally for trying it out: a private Dendrite homeserver, the WhatsApp simulator
# (wasim) and matrix-whatsapp on loopback, with all state (SQLite databases, keys, configs, logs) in
# demo-data/. The simulator links a simulated phone to the Matrix user @demo through the bridge (it
# scans the QR code the bridge posts, as a person would), and its contact "Echo Bot" answers every
# message. Prints where to sign in and how to talk to the Echo Bot. Ctrl-C stops everything.
#
# The simulator keeps its accounts in memory, so every run links a fresh simulated phone: the
# bridge's session from the previous run is refused by the new simulator and deleted, and the rooms
# (same phone numbers) are reused. Delete demo-data/ to start over completely.
#
# Settings (environment): DEMO_DOMAIN (localhost), DEMO_HS_PORT (18008), DEMO_AS_PORT (29318),
# DEMO_WA_PORT (29400), DEMO_USER (demo).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

domain="${DEMO_DOMAIN:-localhost}"
hs_port="${DEMO_HS_PORT:-18008}"
as_port="${DEMO_AS_PORT:-29318}"
wa_port="${DEMO_WA_PORT:-29400}"
user="${DEMO_USER:-demo}"
hs_url="http://127.0.0.1:$hs_port"
bridge_url="http://127.0.0.1:$as_port"
data="$root/demo-data"
bin="$root/.cache/bin"
started=$SECONDS

step() { printf '\n==> %s\n' "$*"; }
random_secret() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for setting in "DEMO_HS_PORT=$hs_port" "DEMO_AS_PORT=$as_port" "DEMO_WA_PORT=$wa_port"; do
	if port_in_use "${setting#*=}"; then
		echo "Port ${setting#*=} on 127.0.0.1 is in use (another demo running?). Stop it, or choose another port, e.g. ${setting%%=*}=$((${setting#*=} + 1)) make demo" >&2
		exit 1
	fi
done

step "Installing Dendrite"
./scripts/install-dendrite.sh

step "Building matrix-whatsapp and the WhatsApp simulator (wasim-server)"
# make build stamps the version and commit into the bridge (its `version` command shows them).
make --no-print-directory build

mkdir -p "$data/dendrite" "$data/bridge" "$data/wasim"
# The simulator's Noise root key is kept, so the bridge config below stays valid.
wa_root_pubkey="$(./wasim-server -print-root-key -root-key-file "$data/wasim/root.key")"

# The bridge config (SQLite in demo-data/bridge), written on every run so that changed ports apply;
# -g then makes fresh appservice tokens and the registration Dendrite loads on start.
step "Writing the bridge config and registration"
cat >"$data/bridge/config.yaml" <<-YAML
homeserver:
  address: "$hs_url"
  domain: "$domain"
appservice:
  address: "$bridge_url"
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
  command_prefix: "!wa"
  permissions:
    "*": relay
    "$domain": user
    "@$user:$domain": admin
whatsapp:
  device_name: matrix-whatsapp
  dial_address: "127.0.0.1:$wa_port"
  media_dial_address: ""
  ca_file: ""
  plain_http: true
  noise_root_pubkey: "$wa_root_pubkey"
logging:
  level: debug
  format: json
  file: ""
YAML
(cd "$data/bridge" && "$root/matrix-whatsapp" -c config.yaml -r registration.yaml -g)

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
# It holds the registration shared secret: the owner's only (also for a config made by an older demo).
chmod 600 "$data/dendrite/dendrite.yaml"

pids=()
names=()
stop_all() {
	# A second Ctrl-C (or make passing the signal on) must not cut the clean-up short.
	trap "" INT TERM
	trap - EXIT
	# Stop the children even when the terminal or a pipe reader (| tee) is gone already.
	trap '' PIPE
	set +e
	echo
	# Newest first: the bridge, the simulator (and its demo driver), then Dendrite.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		local pid="${pids[i]}"
		if kill -0 "$pid" 2>/dev/null; then
			echo "Stopping ${names[i]}..."
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 1 150); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			if kill -0 "$pid" 2>/dev/null; then
				echo "${names[i]} did not stop within 15 s; killing it." >&2
				kill -KILL "$pid" 2>/dev/null || true
			fi
			wait "$pid" 2>/dev/null || true
		fi
	done
	echo "Stopped. State is kept in demo-data/ (delete it to start over)."
}
on_signal() {
	stop_all
	exit 0
}
trap on_signal INT TERM
trap stop_all EXIT
# Job control gives each background process its own process group, so a Ctrl-C in the terminal
# reaches only this script, which then stops the processes in order, once each.
set -m

# wait_until DESCRIPTION PID LOG COMMAND...: polls COMMAND for up to 30 s while PID lives.
wait_until() {
	local what="$1" pid="$2" log="$3"
	shift 3
	for i in $(seq 1 300); do
		if "$@"; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null || [[ $i -eq 300 ]]; then
			echo "$what did not start; last lines of $log:" >&2
			tail -n 30 "$log" >&2
			exit 1
		fi
		sleep 0.1
	done
}
http_ok() { curl -fsS -o /dev/null "$1" 2>/dev/null; }
http_any() { curl -sS -o /dev/null "$1" 2>/dev/null; }

step "Starting Dendrite on $hs_url (log: demo-data/dendrite.log)"
(cd "$data/dendrite" && exec "$bin/dendrite" -config dendrite.yaml -http-bind-address "127.0.0.1:$hs_port") \
	>>"$data/dendrite.log" 2>&1 &
pids+=($!) names+=(Dendrite)
wait_until Dendrite "${pids[-1]}" demo-data/dendrite.log http_ok "$hs_url/_matrix/client/versions"

if [[ ! -f "$data/password" ]]; then
	step "Creating the Matrix account @$user:$domain"
	password="$(random_secret)"
	(cd "$data/dendrite" && "$bin/create-account" -config dendrite.yaml -url "$hs_url" \
		-username "$user" -password "$password") >>"$data/dendrite.log" 2>&1
	(umask 077 && printf '%s\n' "$password" >"$data/password")
fi
password="$(cat "$data/password")"

step "Starting the WhatsApp simulator on 127.0.0.1:$wa_port (log: demo-data/wasim.log)"
ready="$data/wasim/ready.env"
rm -f "$ready"
# Its progress lines (==> ...) come on this terminal; its logs go to the file.
"$root/wasim-server" -addr "127.0.0.1:$wa_port" -root-key-file "$data/wasim/root.key" \
	-demo-homeserver "$hs_url" -demo-user "@$user:$domain" -demo-password-file "$data/password" \
	-demo-bridge-url "$bridge_url" -demo-ready-file "$ready" 2>>"$data/wasim.log" &
pids+=($!) names+=("the WhatsApp simulator")
wasim_pid="${pids[-1]}"
wait_until "The WhatsApp simulator" "$wasim_pid" demo-data/wasim.log http_any "http://127.0.0.1:$wa_port/"

step "Starting the bridge on $bridge_url (log: demo-data/bridge.log)"
# The log is at debug level and holds message bodies: readable by its owner only.
touch "$data/bridge.log" && chmod 600 "$data/bridge.log"
(cd "$data/bridge" && exec "$root/matrix-whatsapp" -c config.yaml) >>"$data/bridge.log" 2>&1 &
pids+=($!) names+=("the bridge")
bridge_pid="${pids[-1]}"
wait_until "The bridge" "$bridge_pid" demo-data/bridge.log http_any "$bridge_url/_matrix/mau/live"

# The simulator now links the phone and checks the echo (at most 5 minutes, its -demo-timeout).
while [[ ! -f "$ready" ]]; do
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[i]}" 2>/dev/null; then
			echo "The demo did not come up: ${names[i]} stopped. See demo-data/*.log (last lines of demo-data/wasim.log:)" >&2
			tail -n 20 "$data/wasim.log" >&2
			exit 1
		fi
	done
	sleep 0.2
done
value() { sed -n "s/^$1=//p" "$ready"; }
echo_room="$(value echo_room)"
group_room="$(value group_room)"

cat <<-TEXT

	The demo is running (ready after $((SECONDS - started)) s).

	  Homeserver URL:  $hs_url
	  User:            @$user:$domain
	  Password:        $password
	  WhatsApp phone:  $(value phone) (simulated), linked to the bridge
	  Echo Bot room:   $echo_room  (Echo Bot answers every message)
	TEXT
if [[ -n "$group_room" ]]; then
	printf '  Group room:      %s  (WhatsApp group "Demo group" with Alice and Bob)\n' "$group_room"
fi
cat <<-TEXT
	  Bridge bot:      @whatsappbot:$domain  (its DM is your management room: send "help")

	With Element or any Matrix client: sign in with the user and password above, after changing the
	homeserver to $hs_url. Open the chat "Echo Bot (WA)" and write something.

	With curl:
	  TOKEN=\$(curl -s -X POST $hs_url/_matrix/client/v3/login \\
	      -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"$user"},"password":"$password"}' \\
	      | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
	  ROOM='$echo_room'
	  curl -s -X PUT "$hs_url/_matrix/client/v3/rooms/\$ROOM/send/m.room.message/txn\$(date +%s%N)" \\
	      -H "Authorization: Bearer \$TOKEN" -d '{"msgtype":"m.text","body":"Hello from curl"}'; echo
	  sleep 1   # the echo takes a moment: curl -> bridge -> WhatsApp -> Echo Bot -> bridge -> Matrix
	  curl -s "$hs_url/_matrix/client/v3/rooms/\$ROOM/messages?dir=b&limit=4" \\
	      -H "Authorization: Bearer \$TOKEN" | grep -o '"body":"[^"]*"'
TEXT
wa_url="http://127.0.0.1:$wa_port"
if http_ok "$wa_url/_wasim/info"; then
	cat <<-TEXT

		From the WhatsApp side, with the simulator's control API:
		  curl -s -X POST $wa_url/_wasim/messages -d '{"from":"$(value alice_phone)","to":"$(value phone | tr -d +)","text":"Hi, it is Alice"}'
		  curl -s "$wa_url/_wasim/messages?phone=$(value echo_phone)"    # what Echo Bot received
		(Alice's message opens a new chat: accept the invite to its room in your client.)
	TEXT
fi
printf '\nLogs: demo-data/dendrite.log, demo-data/bridge.log, demo-data/wasim.log. Press Ctrl-C to stop.\n'

# Wait until Ctrl-C, or until one of the processes ends on its own.
while true; do
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[i]}" 2>/dev/null; then
			echo "${names[i]} ended on its own; see demo-data/*.log." >&2
			exit 1
		fi
	done
	sleep 1 &
	wait $! || true
done
