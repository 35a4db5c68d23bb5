package config

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func readExample(t *testing.T) []byte {
	t.Helper()
	example, err := os.ReadFile("../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return example
}

// copyConfig copies a test config to a fresh directory and returns its path.
func copyConfig(t *testing.T, name string) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err = os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// TestUpgradePreviousVersion upgrades a config of the version before config_version existed, as
// a user edited it: the user's values, comments and unknown options stay, options of this
// version are added with their comments and defaults, permissions get no example entries, the
// original is kept as config.yaml.bak, and a second start changes nothing.
func TestUpgradePreviousVersion(t *testing.T) {
	path, original := copyConfig(t, "config-v1.yaml")
	example := readExample(t)
	data, res, err := UpgradeFile(path, example, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 1 || res.To != CurrentVersion || res.NotWritten != nil || res.Backup != path+".bak" {
		t.Fatalf("upgrade result = %+v", res)
	}
	for _, key := range []string{"homeserver.status_endpoint", "metrics"} {
		if !strings.Contains(strings.Join(res.Added, " "), key) {
			t.Errorf("added %v, want %s among them", res.Added, key)
		}
	}
	// The version is set, but it is no option to tell the user about.
	if slices.Contains(res.Added, versionKey) || strings.Contains(strings.Join(res.Notes(), " "), versionKey) {
		t.Errorf("the upgrade notes list %s as a new option: %v", versionKey, res.Notes())
	}
	if !strings.Contains(string(data), versionKey+": ") {
		t.Errorf("the upgraded config has no %s", versionKey)
	}
	if backup, _ := os.ReadFile(res.Backup); !bytes.Equal(backup, original) {
		t.Error("the backup is not the original file")
	}
	written, _ := os.ReadFile(path)
	if !bytes.Equal(written, data) {
		t.Error("the file does not hold the upgraded config")
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Errorf("file mode %v after the upgrade, want 0640 kept", info.Mode().Perm())
	}
	text := string(data)
	for _, want := range []string{
		"# Our homeserver runs in the same pod.\n    address: http://synapse:8008",
		"domain: chat.example.net # production",
		"# Only our own users.\n        chat.example.net: user",
		`"@boss:chat.example.net": admin`,
		"uri: /data/whatsapp.db",
		"# Left over from an experiment.\n    old_option: true",
		// New options, with the example's comments.
		"# URL to POST the state of every user's WhatsApp login to",
		"status_endpoint: \"\"",
		"# Prometheus metrics (README: Operating the bridge).",
		"config_version: 2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("upgraded config lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "example.org: user") || strings.Contains(text, "@admin:example.org") {
		t.Errorf("the example's permissions were merged into the user's:\n%s", text)
	}
	// The new option sits where the example has it: after bot_sync in homeserver.
	if i, j := strings.Index(text, "bot_sync:"), strings.Index(text, "status_endpoint:"); i < 0 || j < i || j > strings.Index(text, "appservice:") {
		t.Errorf("status_endpoint is not after bot_sync in homeserver:\n%s", text)
	}
	cfg, err := ParseWithEnv(data, nil)
	if err != nil {
		t.Fatalf("upgraded config does not load: %v", err)
	}
	if cfg.Homeserver.Domain != "chat.example.net" || cfg.Version != CurrentVersion || cfg.Bridge.Permissions["chat.example.net"] != "user" {
		t.Errorf("loaded domain %q, version %d, permissions %v", cfg.Homeserver.Domain, cfg.Version, cfg.Bridge.Permissions)
	}

	again, res2, err := UpgradeFile(path, example, time.Now())
	if err != nil || res2.Upgraded() || res2.Backup != "" || !bytes.Equal(again, data) {
		t.Errorf("second upgrade: %+v, %v; want nothing done", res2, err)
	}
	if matches, _ := filepath.Glob(path + "*.bak"); len(matches) != 1 {
		t.Errorf("backups after two starts: %v, want one", matches)
	}
}

// TestUpgradeKeepsEarlierBackup: a second upgrade (a config restored from an old copy) keeps the
// first backup and writes a timestamped one.
func TestUpgradeKeepsEarlierBackup(t *testing.T) {
	path, original := copyConfig(t, "config-v1.yaml")
	if err := os.WriteFile(path+".bak", []byte("earlier backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 5, 6, 7, 0, time.UTC)
	_, res, err := UpgradeFile(path, readExample(t), now)
	if err != nil || res.Backup != path+".20261130T050607Z.bak" {
		t.Fatalf("upgrade = %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(path + ".bak"); string(b) != "earlier backup" {
		t.Error("the earlier backup was overwritten")
	}
	if b, _ := os.ReadFile(res.Backup); !bytes.Equal(b, original) {
		t.Error("the timestamped backup is not the original")
	}
}

// TestUpgradeReadOnlyConfig: a config that cannot be written is upgraded in memory, left as it
// is, and the notes say so.
func TestUpgradeReadOnlyConfig(t *testing.T) {
	path, original := copyConfig(t, "config-v1.yaml")
	makeReadOnly(t, path)
	cfg, err := LoadAndUpgrade(path, readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != CurrentVersion || cfg.Homeserver.Domain != "chat.example.net" {
		t.Errorf("config in memory: version %d, domain %q", cfg.Version, cfg.Homeserver.Domain)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, original) {
		t.Error("the read-only config was changed")
	}
	if matches, _ := filepath.Glob(path + "*.bak"); len(matches) != 0 {
		t.Errorf("backups of a read-only config: %v", matches)
	}
	warnings := strings.Join(cfg.Warnings(), "\n")
	for _, want := range []string{"config upgraded from version 1 to 2", "is read-only", "in memory only"} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	}
}

// makeReadOnly makes path unwritable, also for root (who ignores file modes): with the
// immutable attribute then.
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Fatalf("running as root, and chattr +i failed, so the file cannot be made read-only: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
}

// TestUpgradeRenamesAndVersions: renamed options move with their comments, newer configs are
// refused, a config of the current version is left alone.
func TestUpgradeRenamesAndVersions(t *testing.T) {
	example := []byte("# The bridge.\nbridge:\n    # Relay settings.\n    relay:\n        # On or off.\n        enabled: false\n    prefix: \"!wa\"\nconfig_version: 3\n")
	old := []byte("bridge:\n    # My relay choice.\n    relay_enabled: true # yes\n    prefix: \"!w\"\nconfig_version: 2\n")
	out, res, err := upgrade(old, example, 3, map[int][]rename{3: {{From: "bridge.relay_enabled", To: "bridge.relay.enabled"}}})
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if res.From != 2 || len(res.Moved) != 1 || strings.Contains(text, "relay_enabled") ||
		!strings.Contains(text, "# My relay choice.\n        enabled: true # yes") || !strings.Contains(text, `prefix: '!w'`) && !strings.Contains(text, `prefix: "!w"`) ||
		!strings.Contains(text, "config_version: 3") {
		t.Errorf("upgrade with a rename = %+v:\n%s", res, text)
	}
	if _, _, err = upgrade([]byte("config_version: 4\n"), example, 3, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("a newer config: %v, want refused", err)
	}
	current := []byte("# mine\nbridge: {}\nconfig_version: 3\n")
	if out, res, err = upgrade(current, example, 3, nil); err != nil || res.Upgraded() || !bytes.Equal(out, current) {
		t.Errorf("a current config: %+v, %v, %q; want it untouched", res, err, out)
	}
	if _, _, err = upgrade([]byte("config_version: two\n"), example, 3, nil); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("a config_version that is no number: %v, want refused as no whole number", err)
	}
	for _, v := range []string{"0", "-1"} {
		if _, _, err = upgrade([]byte("config_version: "+v+"\n"), example, 3, nil); err == nil || !strings.Contains(err.Error(), "config_version must be 1 or more") {
			t.Errorf("config_version %s: %v, want refused as less than 1", v, err)
		}
	}
}

// TestUpgradeMinimalConfig: options a config lacks entirely get the example's defaults, but
// free-form maps such as bridge.permissions start empty, never with the example's entries.
func TestUpgradeMinimalConfig(t *testing.T) {
	out, res, err := Upgrade([]byte("homeserver:\n    address: http://hs:8008\n    domain: chat.example.net\n"), readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if !res.Upgraded() || !strings.Contains(text, "permissions: {}") || strings.Contains(text, "example.org") ||
		!strings.Contains(text, "command_prefix: \"!wa\"") || !strings.Contains(text, "address: http://hs:8008") {
		t.Errorf("upgraded minimal config (%+v):\n%s", res, text)
	}
}
