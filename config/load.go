package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// envPrefix starts the name of every environment variable Load reads:
// RAAFT_ followed by the key upper-cased with "." replaced by "_".
const envPrefix = "RAAFT_"

// LoadOptions says where Load reads from. The zero value loads defaults
// overridden by the process environment.
type LoadOptions struct {
	// File is the config file, YAML (.yaml, .yml) or TOML (.toml) by
	// extension. Empty means no file.
	File string
	// Flags, if not nil, is a parsed flag set. Each flag named like a key
	// (--raft.heartbeat_timeout) overrides that key, but only if it was set
	// on the command line. Other flags are ignored.
	Flags *pflag.FlagSet
	// Env replaces os.Environ() as the environment, in the same "KEY=value"
	// form, so tests need not call os.Setenv. Nil means the process
	// environment; an empty non-nil slice means no environment at all.
	Env []string
}

// pathKeys are the keys holding file paths, which a config file may give
// relative to its own directory. auth.jwks is one only when it is not a URL.
var pathKeys = []string{
	"node.data_dir",
	"node.genesis_file",
	"node.agency_key_file",
	"node.node_key_file",
	"api.tls_cert_file",
	"api.tls_key_file",
	"api.access_log_file",
	"auth.jwks",
	"auth.oidc.client_secret_file",
}

// Load reads the configuration from opts (flags over environment over file
// over [Default]; see the package documentation), decodes it into a Config
// and validates it. On any error it returns the zero Config and an error
// naming the file, key or variable at fault; validation problems are all
// reported together.
func Load(opts LoadOptions) (Config, error) {
	v := viper.NewWithOptions(
		viper.ExperimentalBindStruct(),
		viper.WithDecodeHook(decodeHook()),
	)
	keys := leafKeys(reflect.TypeFor[Config](), "")
	if opts.File != "" {
		if err := readFile(v, opts.File, keys); err != nil {
			return Config{}, err
		}
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	// The environment is merged over the file in viper's config layer,
	// rather than through viper.AutomaticEnv, because AutomaticEnv reads only
	// the process environment and opts.Env must replace it.
	if err := v.MergeConfigMap(envSettings(env, keys)); err != nil {
		return Config{}, fmt.Errorf("config: environment: %w", err)
	}
	if err := bindFlags(v, opts.Flags, keys); err != nil {
		return Config{}, err
	}
	// Decoding into Default() leaves the default of every key no source set,
	// since viper's settings omit such keys; viper's own default layer stays
	// empty so Default remains the one place defaults live.
	// ExperimentalBindStruct makes UnmarshalExact ask for every key of
	// Config, not only keys viper has seen, which AutomaticEnv-style lookups
	// would need; here it costs nothing and keeps the behaviour if one is
	// added.
	cfg := Default()
	if err := v.UnmarshalExact(&cfg); err != nil {
		return Config{}, fmt.Errorf("config: decode: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: invalid:\n%w", err)
	}
	return cfg, nil
}

// readFile reads path into v's config layer, rejects keys Config lacks and
// resolves relative paths against the file's directory.
func readFile(v *viper.Viper, path string, keys []string) error {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml", ".toml":
	default:
		return fmt.Errorf("config file %s: extension %q not supported; expected .yaml, .yml or .toml", path, ext)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	v.SetConfigFile(abs)
	if err := v.ReadInConfig(); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if err := checkFileKeys(path, v.AllKeys(), keys); err != nil {
		return err
	}
	// Only the file has been read so far, so every value seen here is the
	// file's, and only the file's relative paths are rewritten.
	resolved := map[string]any{}
	for _, key := range pathKeys {
		p, ok := v.Get(key).(string)
		if !ok || p == "" || filepath.IsAbs(p) || (key == "auth.jwks" && isURL(p)) {
			continue
		}
		setNested(resolved, key, filepath.Join(filepath.Dir(abs), p))
	}
	if err := v.MergeConfigMap(resolved); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// checkFileKeys returns an error naming every key in fileKeys that is
// neither a key of Config nor one of its sections, and listing what the
// section does allow. A section with a scalar value is left to the
// decoder, which reports the type mismatch.
func checkFileKeys(path string, fileKeys, keys []string) error {
	known := map[string]bool{}
	sections := map[string][]string{}
	var sectionNames []string
	for _, k := range keys {
		section, name, _ := strings.Cut(k, ".")
		if !known[section] {
			sectionNames = append(sectionNames, section)
		}
		known[k], known[section] = true, true
		sections[section] = append(sections[section], name)
	}
	sort.Strings(fileKeys)
	var errs []error
	for _, k := range fileKeys {
		if known[k] {
			continue
		}
		expected := "a section: " + strings.Join(sectionNames, ", ")
		if section, _, ok := strings.Cut(k, "."); ok && sections[section] != nil {
			expected = "a key of section " + section + ": " + strings.Join(sections[section], ", ")
		}
		errs = append(errs, fmt.Errorf("config file %s: unknown key %q; expected %s", path, k, expected))
	}
	return errors.Join(errs...)
}

// envSettings returns, as nested maps, the value of every key that has a
// non-empty RAAFT_ variable in env. Later entries win over earlier ones.
func envSettings(env []string, keys []string) map[string]any {
	vars := map[string]string{}
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, envPrefix) {
			vars[name] = value
		}
	}
	settings := map[string]any{}
	for _, key := range keys {
		if value := vars[envName(key)]; value != "" {
			setNested(settings, key, value)
		}
	}
	return settings
}

// envName returns the environment variable for key:
// raft.heartbeat_timeout is RAAFT_RAFT_HEARTBEAT_TIMEOUT.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// bindFlags binds each flag of fs that is named like a key and was set on
// the command line. Unset flags stay unbound so their defaults never beat
// the environment, the file or Default.
func bindFlags(v *viper.Viper, fs *pflag.FlagSet, keys []string) error {
	if fs == nil {
		return nil
	}
	for _, key := range keys {
		f := fs.Lookup(key)
		if f == nil || !f.Changed {
			continue
		}
		if err := v.BindPFlag(key, f); err != nil {
			return fmt.Errorf("config: flag --%s: %w", key, err)
		}
	}
	return nil
}

// leafKeys returns the dotted key of every value in struct type t, from its
// mapstructure tags. Nested structs are sections; slices, even of structs,
// are single values.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("mapstructure")
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, leafKeys(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// setNested stores value at the dotted key in m, creating sections.
func setNested(m map[string]any, key string, value any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
}

// isURL reports whether s looks like a URL rather than a file path: it has
// a scheme followed by "://".
func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && strings.Contains(s, "://")
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	peersType    = reflect.TypeFor[[]Peer]()
)

// decodeHook converts the strings that files, variables and flags carry
// into Config's types. Passing it replaces viper's default hooks, so every
// conversion Load relies on is listed here.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(
		rejectNumericDuration,
		mapstructure.StringToTimeDurationHookFunc(),
		parseScalar,
		decodePeers,
	)
}

// parseScalar parses the strings that environment variables carry into
// integers and booleans, with errors that quote the value; mapstructure's
// own weak conversion does not.
func parseScalar(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || from.Kind() != reflect.String {
		return data, nil
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	}
	return data, nil
}

// rejectNumericDuration refuses a bare number where a duration is expected:
// mapstructure would read 2 as 2ns.
func rejectNumericDuration(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if from == durationType {
			return data, nil
		}
		return nil, fmt.Errorf("%v is a bare number; expected a duration with a unit, such as \"2s\" or \"300ms\"", data)
	}
	return data, nil
}

// decodePeers reads raft.peers from the environment or a flag:
// "id=host:port,id=host:port". A string-slice flag arrives already split at
// the commas.
func decodePeers(from, to reflect.Type, data any) (any, error) {
	if to != peersType {
		return data, nil
	}
	var items []string
	switch d := data.(type) {
	case string:
		if d == "" {
			return []Peer{}, nil
		}
		items = strings.Split(d, ",")
	case []string:
		items = d
	default:
		return data, nil
	}
	peers := make([]Peer, 0, len(items))
	for _, item := range items {
		id, addr, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return nil, fmt.Errorf("peer %q has no \"=\"; expected id=host:port pairs separated by commas", item)
		}
		peers = append(peers, Peer{ID: id, Addr: addr})
	}
	return peers, nil
}
