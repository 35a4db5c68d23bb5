package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// Config upgrades: a config written for an older version of the bridge is brought up to
// CurrentVersion on start. The version is the top-level config_version key (configs from before
// it existed are version 1). Renamed options are moved to their new place (renames), options the
// example config has and the user's config lacks are added with the example's value and comment,
// and everything the user wrote (values, comments, options unknown to this version) stays. It
// works on yaml.v3 nodes, so comments survive; YAML is re-indented by four spaces.

// CurrentVersion is the config_version of this bridge's example-config.yaml.
const CurrentVersion = 2

// versionKey is the top-level key holding the config's version.
const versionKey = "config_version"

// rename moves the option at dotted path From to To.
type rename struct{ From, To string }

// renames lists, per version, the options renamed on the way from the version before it.
var renames = map[int][]rename{}

// UpgradeResult says what UpgradeFile did.
type UpgradeResult struct {
	// From and To are the config's version before and after; equal when nothing was to be done.
	From, To int
	// Added and Moved list the options added from the example config and the renamed ones
	// ("old -> new"), as dotted paths.
	Added, Moved []string
	// Backup is the copy of the original file written before it was replaced ("" if none).
	Backup string
	// NotWritten is why the upgraded config could not be written back (a read-only file or
	// directory); the bridge then runs with the upgraded config in memory only.
	NotWritten error
}

// Upgraded reports whether the config was of an older version.
func (r UpgradeResult) Upgraded() bool { return r.From != r.To }

// Notes describes the upgrade for the start-up log.
func (r UpgradeResult) Notes() []string {
	if !r.Upgraded() {
		return nil
	}
	var notes []string
	note := fmt.Sprintf("config upgraded from version %d to %d", r.From, r.To)
	if len(r.Added) > 0 {
		note += "; new options (with their defaults): " + strings.Join(r.Added, ", ")
	}
	if len(r.Moved) > 0 {
		note += "; renamed options: " + strings.Join(r.Moved, ", ")
	}
	if r.Backup != "" {
		note += "; the old file was saved as " + r.Backup
	}
	notes = append(notes, note)
	if r.NotWritten != nil {
		notes = append(notes, fmt.Sprintf("the upgraded config could not be written back (%v): the bridge runs with it in memory only, and upgrades again on every start until the file is writable or updated by hand", r.NotWritten))
	}
	return notes
}

// LoadAndUpgrade is Load with UpgradeFile first: an older config is upgraded against example (the
// example config of this version) before it is parsed. The upgrade's notes are part of the
// config's Warnings.
func LoadAndUpgrade(path string, example []byte) (*Config, error) {
	data, res, err := UpgradeFile(path, example, time.Now())
	if errors.Is(err, fs.ErrNotExist) {
		return Load(path) // says how to create one
	} else if err != nil {
		return nil, err
	}
	cfg, err := ParseWithEnv(data, os.Environ())
	if err != nil {
		return nil, err
	}
	cfg.upgradeNotes = res.Notes()
	return cfg, nil
}

// UpgradeFile upgrades the config at path (see Upgrade) and returns the upgraded YAML. When there
// is anything to upgrade it first copies the file to path+".bak" (path+".<UTC time>.bak" when that
// exists), then rewrites the file in place, keeping its permissions. A file or backup that cannot
// be written is reported in NotWritten, not as an error: the upgraded data is still returned.
func UpgradeFile(path string, example []byte, now time.Time) ([]byte, UpgradeResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, UpgradeResult{}, err
	}
	out, res, err := Upgrade(data, example)
	if err != nil {
		return nil, res, fmt.Errorf("failed to read config %s: %w", path, err)
	}
	if !res.Upgraded() {
		return data, res, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, res, err
	}
	if err = writable(path); err != nil {
		res.NotWritten = err
		return out, res, nil
	}
	backup := path + ".bak"
	if _, err = os.Lstat(backup); err == nil {
		backup = fmt.Sprintf("%s.%s.bak", path, now.UTC().Format("20060102T150405Z"))
	}
	if err = writeFileSync(backup, data, info.Mode().Perm(), os.O_EXCL); err != nil {
		res.NotWritten = fmt.Errorf("backup %s: %w", backup, err)
		return out, res, nil
	}
	res.Backup = backup
	if err = writeFileSync(path, out, info.Mode().Perm(), os.O_TRUNC); err != nil {
		res.NotWritten = err
	}
	return out, res, nil
}

// writable reports why path cannot be written, or nil. A read-only file or file system is what
// it is meant to catch (e.g. a config mounted read-only into a container).
func writable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("%s is read-only", path)
		}
		return err
	}
	return f.Close()
}

// writeFileSync writes data to path (created with perm, or opened with flag) and syncs it.
func writeFileSync(path string, data []byte, perm fs.FileMode, flag int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, perm)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Upgrade brings config data of an older version up to CurrentVersion against example, the
// example config of this version. A config of the current version is returned as it is; one of
// a newer version is an error.
func Upgrade(data, example []byte) ([]byte, UpgradeResult, error) {
	return upgrade(data, example, CurrentVersion, renames)
}

func upgrade(data, example []byte, current int, renames map[int][]rename) ([]byte, UpgradeResult, error) {
	res := UpgradeResult{To: current}
	var doc, ex yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, res, fmt.Errorf("config is not valid YAML: %w", err)
	}
	if err := yaml.Unmarshal(example, &ex); err != nil || len(ex.Content) == 0 || ex.Content[0].Kind != yaml.MappingNode {
		return nil, res, fmt.Errorf("example config is not a YAML mapping: %v", err)
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, res, errors.New("config is not a YAML mapping")
	}
	res.From = 1
	if _, v := lookup(root, versionKey); v != nil {
		n, err := strconv.Atoi(v.Value)
		if err != nil {
			return nil, res, fmt.Errorf("%s must be a whole number, got %q", versionKey, v.Value)
		} else if n < 1 {
			return nil, res, fmt.Errorf("%s must be 1 or more (versions count from 1), got %d", versionKey, n)
		}
		res.From = n
	}
	switch {
	case res.From > current:
		return nil, res, fmt.Errorf("config is of version %d, newer than this bridge knows (%d): use a newer bridge or the config of this version", res.From, current)
	case res.From == current:
		res.To = res.From
		return data, res, nil
	}
	for v := res.From + 1; v <= current; v++ {
		for _, r := range renames[v] {
			if moveNode(root, strings.Split(r.From, "."), strings.Split(r.To, ".")) {
				res.Moved = append(res.Moved, r.From+" -> "+r.To)
			}
		}
	}
	res.Added = slices.DeleteFunc(mergeMissing(root, ex.Content[0], reflect.TypeOf(Config{}), ""),
		func(key string) bool { return key == versionKey }) // set below; no option to tell about
	_, v := lookup(root, versionKey)
	if v == nil { // mergeMissing adds it from the example; a config without it in the example still gets it
		root.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: versionKey}, {Kind: yaml.ScalarNode, Tag: "!!int"}}, root.Content...)
		_, v = lookup(root, versionKey)
	}
	v.Kind, v.Tag, v.Style, v.Value = yaml.ScalarNode, "!!int", 0, strconv.Itoa(current)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, res, err
	}
	return separateSections(out), res, nil
}

// separateSections puts back the blank line before each top-level section that yaml.v3 drops:
// before every unindented line (a key or its comment) that follows an indented one.
func separateSections(data []byte) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	var sb strings.Builder
	for i, line := range lines {
		if i > 0 && line != "" && line[0] != ' ' && line[0] != '\n' && strings.HasPrefix(lines[i-1], " ") {
			sb.WriteString("\n")
		}
		sb.WriteString(line)
	}
	return []byte(sb.String())
}

// lookup returns the key and value nodes of key in mapping m, or nils.
func lookup(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// mergeMissing adds to user every key of example it lacks, in the example's order (after the
// example key before it that the user has), with its comments; mappings both have are merged
// the same way, except options whose values are free-form maps (e.g. bridge.permissions), which
// are the user's alone. t is the Config type at this level (nil: unknown). It returns the dotted
// paths of the added keys.
func mergeMissing(user, example *yaml.Node, t reflect.Type, prefix string) []string {
	var added []string
	insertAt := 0
	for i := 0; i+1 < len(example.Content); i += 2 {
		exKey, exVal := example.Content[i], example.Content[i+1]
		var fieldType reflect.Type
		if t != nil {
			if f, ok := yamlField(t, exKey.Value); ok {
				fieldType = f.Type
				for fieldType.Kind() == reflect.Pointer {
					fieldType = fieldType.Elem()
				}
			}
		}
		idx := -1
		for j := 0; j+1 < len(user.Content); j += 2 {
			if user.Content[j].Value == exKey.Value {
				idx = j
				break
			}
		}
		if idx < 0 {
			user.Content = append(user.Content[:insertAt], append([]*yaml.Node{deepCopy(exKey), newValue(exVal, fieldType)}, user.Content[insertAt:]...)...)
			added = append(added, prefix+exKey.Value)
			insertAt += 2
			continue
		}
		insertAt = idx + 2
		userVal := user.Content[idx+1]
		if exVal.Kind == yaml.MappingNode && userVal.Kind == yaml.MappingNode && (fieldType == nil || fieldType.Kind() == reflect.Struct) {
			added = append(added, mergeMissing(userVal, exVal, fieldType, prefix+exKey.Value+".")...)
		}
	}
	return added
}

// moveNode moves the value at path from to path to (creating the mappings on the way), with its
// key's comments. It does nothing when from is absent or to exists already, and reports whether
// it moved anything.
func moveNode(root *yaml.Node, from, to []string) bool {
	parent := walkPath(root, from[:len(from)-1], false)
	if parent == nil {
		return false
	}
	k, v := lookup(parent, from[len(from)-1])
	if k == nil {
		return false
	}
	target := walkPath(root, to[:len(to)-1], true)
	if target == nil {
		return false
	}
	if tk, _ := lookup(target, to[len(to)-1]); tk != nil {
		return false
	}
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if parent.Content[i] == k {
			parent.Content = append(parent.Content[:i], parent.Content[i+2:]...)
			break
		}
	}
	newKey := *k
	newKey.Value = to[len(to)-1]
	target.Content = append(target.Content, &newKey, v)
	return true
}

// walkPath returns the mapping at path below root, creating missing mappings when create is set.
func walkPath(root *yaml.Node, path []string, create bool) *yaml.Node {
	node := root
	for _, key := range path {
		_, v := lookup(node, key)
		if v == nil {
			if !create {
				return nil
			}
			v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
		}
		if v.Kind != yaml.MappingNode {
			return nil
		}
		node = v
	}
	return node
}

// newValue is the value of an option the user's config lacks: the example's, except that
// free-form maps (e.g. bridge.permissions, whose example entries name example.org) start empty,
// also inside a missing section.
func newValue(exVal *yaml.Node, t reflect.Type) *yaml.Node {
	if exVal.Kind != yaml.MappingNode || t == nil {
		return deepCopy(exVal)
	}
	if t.Kind() == reflect.Map {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
	}
	v := *exVal
	v.Content = nil
	mergeMissing(&v, exVal, t, "")
	return &v
}

func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = deepCopy(child)
	}
	return &c
}
