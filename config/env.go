package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that overrides a config option. The rest of the
// name is the option's dotted YAML path in upper case with dots as underscores:
// MATRIX_WHATSAPP_DATABASE_URI sets database.uri, MATRIX_WHATSAPP_APPSERVICE_BOT_USERNAME sets
// appservice.bot.username.
const EnvPrefix = "MATRIX_WHATSAPP_"

// EnvName returns the environment variable that overrides the option at the dotted YAML path key
// (e.g. "database.uri" -> "MATRIX_WHATSAPP_DATABASE_URI").
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// envField is one overridable option: its dotted key and where its value lives.
type envField struct {
	key   string
	value reflect.Value
}

// envFields lists every leaf option of cfg, by environment variable name. Structs are walked into;
// everything else (strings, numbers, booleans, maps, pointers) is a leaf.
func envFields(cfg *Config) map[string]envField {
	out := make(map[string]envField)
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			key := tag
			if prefix != "" {
				key = prefix + "." + tag
			}
			if f := v.Field(i); f.Kind() == reflect.Struct {
				walk(key, f)
			} else {
				out[EnvName(key)] = envField{key: key, value: f}
			}
		}
	}
	walk("", reflect.ValueOf(cfg).Elem())
	return out
}

// applyEnv sets the options named by MATRIX_WHATSAPP_* entries of environ ("NAME=value", as
// os.Environ returns). A string option takes the value as it is; numbers and booleans are parsed;
// maps (bridge.permissions) and lists take YAML flow syntax, e.g. {"*": user}. A variable with the
// prefix that names no option, or a value of the wrong type, is an error naming the variable and
// the option, never the value (it may be a secret). It returns the keys it set, sorted.
func (cfg *Config) applyEnv(environ []string) ([]string, error) {
	fields := envFields(cfg)
	var set []string
	var errs []string
	for _, entry := range environ {
		name, value, ok := strings.Cut(entry, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		field, known := fields[name]
		if !known {
			errs = append(errs, fmt.Sprintf("%s: no such option (variables are %s followed by the option's path, e.g. %s)", name, EnvPrefix, EnvName("database.uri")))
			continue
		}
		if err := setFromEnv(field.value, value); err != nil {
			errs = append(errs, fmt.Sprintf("%s (%s): %v", name, field.key, err))
			continue
		}
		set = append(set, field.key)
	}
	sort.Strings(set)
	if len(errs) > 0 {
		sort.Strings(errs)
		return set, fmt.Errorf("invalid environment override: %s", strings.Join(errs, "; "))
	}
	return set, nil
}

// setFromEnv parses value into v according to v's type.
func setFromEnv(v reflect.Value, value string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(value)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return fmt.Errorf("must be an integer")
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		v.SetBool(b)
	default:
		// Maps, lists and pointers (optional values): YAML, as in the file.
		target := reflect.New(v.Type())
		if err := yaml.Unmarshal([]byte(value), target.Interface()); err != nil {
			return fmt.Errorf("must be a YAML value of the option's type (e.g. {\"*\": user} for a map)")
		}
		v.Set(target.Elem())
	}
	return nil
}
