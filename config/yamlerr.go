package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// typeErrorLine matches one entry of a yaml.TypeError:
// "line 76: cannot unmarshal !!str `sometimes` into bool".
var typeErrorLine = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// explainTypeErrors rewrites the entries of a yaml.TypeError so that each names the option by its
// dotted path and says what it wants: "bridge.history_sync.enabled (line 76): want true or false,
// got \"sometimes\"". Errors of another kind, and entries it cannot map, are returned as yaml.v3
// put them.
func explainTypeErrors(data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("config is not valid YAML: %w", err)
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	paths := map[int]string{}
	if len(doc.Content) > 0 {
		keyPaths(doc.Content[0], "", paths)
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := typeErrorLine.FindStringSubmatch(e)
		if m == nil {
			msgs = append(msgs, e)
			continue
		}
		line, _ := strconv.Atoi(m[1])
		key, ok := paths[line]
		if !ok {
			msgs = append(msgs, e)
			continue
		}
		got := strconv.Quote(m[3])
		if m[2] == "map" || m[2] == "seq" {
			got = map[string]string{"map": "a mapping", "seq": "a list"}[m[2]]
		}
		msgs = append(msgs, fmt.Sprintf("%s (line %d): want %s, got %s", key, line, wantOf(m[4]), got))
	}
	return fmt.Errorf("config has options of the wrong type:\n%s", strings.Join(msgs, "\n"))
}

// wantOf describes a Go type of a yaml.TypeError ("bool", "int", "[]string", "config.X") for a user.
func wantOf(goType string) string {
	switch {
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "text"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "config."):
		return "a mapping (indented key: value lines)"
	}
	return goType
}

// keyPaths records for every value node under n the dotted key path that leads to it, by the
// line the value starts on (list items as path[i]); where several start on one line, the option
// with a plain value wins (a nested mapping starts on its first key's line).
func keyPaths(n *yaml.Node, prefix string, out map[int]string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := n.Content[i].Value
			if prefix != "" {
				path = prefix + "." + path
			}
			v := n.Content[i+1]
			if _, seen := out[v.Line]; !seen || v.Kind == yaml.ScalarNode {
				out[v.Line] = path
			}
			keyPaths(v, path, out)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			// A list item never takes the line from the option holding the list (a flow list
			// "[a, b]" shares its line), so a list where a value was wanted is named by the option.
			path := fmt.Sprintf("%s[%d]", prefix, i)
			if _, seen := out[item.Line]; !seen {
				out[item.Line] = path
			}
			keyPaths(item, path, out)
		}
	}
}
