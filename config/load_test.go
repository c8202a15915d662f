package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// requiredEnv sets, through the environment, every key that has no
// default, so Load succeeds without a file. extra entries come after and
// win.
func requiredEnv(extra ...string) []string {
	return append([]string{
		"RAAFT_NODE_ID=node-a",
		"RAAFT_NODE_AGENCY=agency-a",
		"RAAFT_NODE_DATA_DIR=/var/lib/raaft",
		"RAAFT_NODE_GENESIS_FILE=/etc/raaft/genesis.json",
		"RAAFT_NODE_AGENCY_KEY_FILE=/etc/raaft/agency.pem",
		"RAAFT_NODE_NODE_KEY_FILE=/etc/raaft/node.pem",
		"RAAFT_AUTH_ISSUER=https://idp.example",
		"RAAFT_AUTH_AUDIENCE=raaft",
		"RAAFT_AUTH_JWKS=https://idp.example/jwks",
	}, extra...)
}

// valid returns Default with the keys of requiredEnv set.
func valid() Config {
	c := Default()
	c.Node = Node{
		ID:            "node-a",
		Agency:        "agency-a",
		DataDir:       "/var/lib/raaft",
		GenesisFile:   "/etc/raaft/genesis.json",
		AgencyKeyFile: "/etc/raaft/agency.pem",
		NodeKeyFile:   "/etc/raaft/node.pem",
	}
	c.Auth.Issuer = "https://idp.example"
	c.Auth.Audience = "raaft"
	c.Auth.JWKS = "https://idp.example/jwks"
	return c
}

// writeFile writes body to name under a fresh temporary directory and
// returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flagSet declares flags as a command would, some named like keys and one
// not, and parses args.
func flagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("raaft", pflag.ContinueOnError)
	fs.String("config", "", "config file (not a key)")
	fs.Duration("raft.heartbeat_timeout", 999*time.Millisecond, "")
	fs.String("node.id", "flag-default", "")
	fs.Int("raft.max_append_entries", 7, "")
	fs.Bool("raft.no_sync", true, "")
	fs.String("raft.peers", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	got, err := Load(LoadOptions{Env: requiredEnv()})
	if err != nil {
		t.Fatal(err)
	}
	if want := valid(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load with only required keys:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, body string
		check            func(t *testing.T, c Config)
	}{
		{
			name: "yaml",
			file: "node.yaml",
			body: "raft:\n  heartbeat_timeout: 3s\n  election_timeout: 4s\n  peers:\n" +
				"    - id: node-a\n      addr: 10.0.0.1:7400\n    - id: node-b\n      addr: 10.0.0.2:7400\n" +
				"api:\n  body_bytes_max: 2048\nlog:\n  format: text\n",
			check: func(t *testing.T, c Config) {
				want := []Peer{{"node-a", "10.0.0.1:7400"}, {"node-b", "10.0.0.2:7400"}}
				if c.Raft.HeartbeatTimeout != 3*time.Second || c.Raft.ElectionTimeout != 4*time.Second ||
					c.API.BodyBytesMax != 2048 || c.Log.Format != "text" || !reflect.DeepEqual(c.Raft.Peers, want) {
					t.Errorf("got %+v", c)
				}
				if c.Raft.LeaderLeaseTimeout != time.Second {
					t.Errorf("unset key lost its default: leader_lease_timeout = %s", c.Raft.LeaderLeaseTimeout)
				}
			},
		},
		{
			name: "yml extension",
			file: "node.yml",
			body: "forward:\n  timeout: 3s\n",
			check: func(t *testing.T, c Config) {
				if c.Forward.Timeout != 3*time.Second {
					t.Errorf("forward.timeout = %s, want 3s", c.Forward.Timeout)
				}
			},
		},
		{
			name: "toml",
			file: "node.toml",
			body: "[raft]\nheartbeat_timeout = \"300ms\"\nelection_timeout = \"300ms\"\n" +
				"leader_lease_timeout = \"150ms\"\nno_sync = true\nvoters_max = 3\n" +
				"[[raft.peers]]\nid = \"node-a\"\naddr = \"127.0.0.1:7400\"\n" +
				"[housekeeping]\nexpire_interval = \"100ms\"\n",
			check: func(t *testing.T, c Config) {
				if c.Raft.HeartbeatTimeout != 300*time.Millisecond || c.Raft.LeaderLeaseTimeout != 150*time.Millisecond ||
					!c.Raft.NoSync || c.Raft.VotersMax != 3 || c.Housekeeping.ExpireInterval != 100*time.Millisecond ||
					!reflect.DeepEqual(c.Raft.Peers, []Peer{{"node-a", "127.0.0.1:7400"}}) {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "keys are case-insensitive",
			file: "node.yaml",
			body: "Raft:\n  Heartbeat_Timeout: 3s\n  ELECTION_TIMEOUT: 3s\nLOG:\n  Level: warn\n",
			check: func(t *testing.T, c Config) {
				if c.Raft.HeartbeatTimeout != 3*time.Second || c.Raft.ElectionTimeout != 3*time.Second || c.Log.Level != "warn" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "empty file means defaults",
			file: "node.toml",
			body: "",
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c, valid()) {
					t.Errorf("got %+v, want %+v", c, valid())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(LoadOptions{File: writeFile(t, tt.file, tt.body), Env: requiredEnv()})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestLoadPrecedence checks flag > env > file > default for one key, and
// that a flag's own default never counts.
func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	const key = "RAAFT_RAFT_HEARTBEAT_TIMEOUT"
	// election_timeout must stay >= heartbeat_timeout whichever source wins.
	file := "raft:\n  heartbeat_timeout: 3s\n  election_timeout: 5s\n"
	tests := []struct {
		name  string
		file  string
		env   []string
		flags []string
		want  time.Duration
	}{
		{name: "default", want: 2 * time.Second},
		{name: "file beats default", file: file, want: 3 * time.Second},
		{name: "env beats default", env: []string{key + "=300ms"}, want: 300 * time.Millisecond},
		{name: "env beats file", file: file, env: []string{key + "=300ms"}, want: 300 * time.Millisecond},
		{name: "empty env is unset", file: file, env: []string{key + "="}, want: 3 * time.Second},
		{name: "later env entry wins", env: []string{key + "=300ms", key + "=400ms"}, want: 400 * time.Millisecond},
		{name: "flag beats env", file: file, env: []string{key + "=300ms"},
			flags: []string{"--raft.heartbeat_timeout=400ms"}, want: 400 * time.Millisecond},
		{name: "flag beats default", flags: []string{"--raft.heartbeat_timeout", "400ms"}, want: 400 * time.Millisecond},
		{name: "unset flag default does not beat env", env: []string{key + "=300ms"},
			flags: []string{"--config=x.yaml"}, want: 300 * time.Millisecond},
		{name: "unset flag default does not beat file", file: file, want: 3 * time.Second},
		{name: "unset flag default does not beat default", flags: []string{}, want: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A short lease keeps lease <= heartbeat for every case.
			env := requiredEnv(append([]string{"RAAFT_RAFT_LEADER_LEASE_TIMEOUT=100ms"}, tt.env...)...)
			opts := LoadOptions{Env: env, Flags: flagSet(t, tt.flags...)}
			if tt.file != "" {
				opts.File = writeFile(t, "node.yaml", tt.file)
			}
			c, err := Load(opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.Raft.HeartbeatTimeout != tt.want {
				t.Errorf("raft.heartbeat_timeout = %s, want %s", c.Raft.HeartbeatTimeout, tt.want)
			}
		})
	}
}

// TestLoadOverrideTypes checks that each kind of value decodes from the
// environment and from flags.
func TestLoadOverrideTypes(t *testing.T) {
	t.Parallel()
	peers := []Peer{{"node-a", "10.0.0.1:7400"}, {"node-b", "[2001:db8::2]:7400"}}
	tests := []struct {
		name  string
		env   []string
		flags []string
		check func(c Config) bool
	}{
		{"env string", []string{"RAAFT_NODE_ID=node-x", "RAAFT_RAFT_PEERS="},
			nil, func(c Config) bool { return c.Node.ID == "node-x" }},
		{"env int", []string{"RAAFT_RAFT_MAX_APPEND_ENTRIES=1024"},
			nil, func(c Config) bool { return c.Raft.MaxAppendEntries == 1024 }},
		{"env int64", []string{"RAAFT_API_BODY_BYTES_MAX=4096"},
			nil, func(c Config) bool { return c.API.BodyBytesMax == 4096 }},
		{"env bool", []string{"RAAFT_RAFT_NO_SYNC=true", "RAAFT_AUTH_DEV_ISSUER=1"},
			nil, func(c Config) bool { return c.Raft.NoSync && c.Auth.DevIssuer }},
		{"env duration", []string{"RAAFT_HOUSEKEEPING_CHECKPOINT_INTERVAL=1m30s"},
			nil, func(c Config) bool { return c.Housekeeping.CheckpointInterval == 90*time.Second }},
		{"env peers", []string{"RAAFT_RAFT_PEERS=node-a=10.0.0.1:7400, node-b=[2001:db8::2]:7400"},
			nil, func(c Config) bool { return reflect.DeepEqual(c.Raft.Peers, peers) }},
		{"flag string beats env", []string{"RAAFT_NODE_ID=node-x"}, []string{"--node.id=node-y"},
			func(c Config) bool { return c.Node.ID == "node-y" }},
		{"flag int", nil, []string{"--raft.max_append_entries=9"},
			func(c Config) bool { return c.Raft.MaxAppendEntries == 9 }},
		{"flag bool false beats env true", []string{"RAAFT_RAFT_NO_SYNC=true"}, []string{"--raft.no_sync=false"},
			func(c Config) bool { return !c.Raft.NoSync }},
		{"unset bool flag default true does not count", nil, nil,
			func(c Config) bool { return !c.Raft.NoSync }},
		{"flag peers", nil, []string{"--raft.peers=node-a=10.0.0.1:7400,node-b=[2001:db8::2]:7400"},
			func(c Config) bool { return reflect.DeepEqual(c.Raft.Peers, peers) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(LoadOptions{Env: requiredEnv(tt.env...), Flags: flagSet(t, tt.flags...)})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestLoadProcessEnv(t *testing.T) {
	// t.Setenv forbids t.Parallel, so this is the one test that reads the
	// process environment (LoadOptions.Env nil).
	for _, kv := range requiredEnv("RAAFT_RAFT_COMMIT_TIMEOUT=7ms") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Raft.CommitTimeout != 7*time.Millisecond || c.Node.ID != "node-a" {
		t.Errorf("process environment not read: %+v", c)
	}
	c, err = Load(LoadOptions{Env: []string{}})
	if err == nil || !strings.Contains(err.Error(), `node.id: ""`) {
		t.Errorf("Env: []string{} should hide the process environment; got %+v, %v", c, err)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string // name of a file holding body; "" for none
		body  string
		env   []string
		flags []string
		want  []string
	}{
		{name: "unknown key in file", file: "node.yaml",
			body: "raft:\n  heartbeat_timout: 2s\nmetrics:\n  addr: x\n",
			want: []string{`unknown key "raft.heartbeat_timout"`, "heartbeat_timeout", `unknown key "metrics.addr"`, "node.yaml"}},
		{name: "unknown key in toml", file: "node.toml", body: "[api]\nlisten = \"x\"\n",
			want: []string{`unknown key "api.listen"`, "listen_addr"}},
		{name: "unknown key in a peer", file: "node.yaml",
			body: "raft:\n  peers:\n    - id: node-a\n      address: 10.0.0.1:7400\n",
			want: []string{"raft.peers[0]", "address"}},
		{name: "section given a scalar", file: "node.yaml", body: "raft: 5\n",
			want: []string{"'raft'", "map"}},
		{name: "bare number duration in file", file: "node.yaml", body: "raft:\n  heartbeat_timeout: 2\n",
			want: []string{"raft.heartbeat_timeout", "2 is a bare number", `"2s"`}},
		{name: "bad duration in env", env: []string{"RAAFT_API_READ_TIMEOUT=10"},
			want: []string{"api.read_timeout", "missing unit"}},
		{name: "bad int in env", env: []string{"RAAFT_RAFT_VOTERS_MAX=five"},
			want: []string{"raft.voters_max", `"five" is not a whole number`}},
		{name: "bad bool in env", env: []string{"RAAFT_RAFT_NO_SYNC=yes please"},
			want: []string{"raft.no_sync", `"yes please" is not true or false`}},
		{name: "bad peers in env", env: []string{"RAAFT_RAFT_PEERS=node-a@10.0.0.1:7400"},
			want: []string{"raft.peers", `"node-a@10.0.0.1:7400"`, "id=host:port"}},
		{name: "bad peers flag",
			flags: []string{"--raft.peers=node-a"}, want: []string{"raft.peers", `"node-a"`}},
		{name: "unsupported extension", file: "node.json", body: "{}",
			want: []string{"node.json", `".json"`, ".yaml, .yml or .toml"}},
		{name: "malformed yaml", file: "node.yaml", body: "raft: [\n",
			want: []string{"node.yaml"}},
		{name: "invalid value from env is validated",
			env:  []string{"RAAFT_NODE_ID=x"},
			want: []string{`node.id: "x" is not a slug`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := LoadOptions{Env: requiredEnv(tt.env...), Flags: flagSet(t, tt.flags...)}
			if tt.file != "" {
				opts.File = writeFile(t, tt.file, tt.body)
			}
			c, err := Load(opts)
			if err == nil {
				t.Fatalf("no error; got %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load returned a non-zero Config with an error: %+v", c)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := Load(LoadOptions{File: path, Env: requiredEnv()})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("want an error naming %s, got %v", path, err)
	}
}

// TestLoadReportsAllProblems checks that Load reports every invalid value,
// from every source, in one error.
func TestLoadReportsAllProblems(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "node.toml", "[raft]\nheartbeat_timeout = \"200ms\"\nelection_timeout = \"50ms\"\nleader_lease_timeout = \"100ms\"\n"+
		"[log]\nlevel = \"verbose\"\n")
	_, err := Load(LoadOptions{
		File:  file,
		Env:   requiredEnv("RAAFT_RAFT_VOTERS_MAX=4"),
		Flags: flagSet(t, "--raft.max_append_entries=2000"),
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		"raft.election_timeout: 50ms is below raft.heartbeat_timeout (200ms); expected >= raft.heartbeat_timeout",
		`log.level: "verbose" is not allowed; expected one of debug, info, warn, error`,
		"raft.voters_max: 4 is not allowed; expected 3 or 5",
		"raft.max_append_entries: 2000 is above 1024",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	joined, ok := errors.Unwrap(err).(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 4 {
		t.Errorf("want the 4 problems joined under Load's wrapper, got %#v", errors.Unwrap(err))
	}
}

func TestLoadRelativePaths(t *testing.T) {
	t.Parallel()
	abs := filepath.Join(t.TempDir(), "abs", "node.pem")
	file := writeFile(t, filepath.Join("etc", "node.yaml"), `
node:
  data_dir: data
  genesis_file: ../shared/genesis.json
  agency_key_file: ./keys/agency.pem
  node_key_file: `+abs+`
api:
  tls_cert_file: tls/api.crt
  tls_key_file: tls/api.key
  access_log_file: log/access.log
auth:
  jwks: jwks.json
`)
	dir := filepath.Dir(file)
	tests := []struct {
		name  string
		env   []string
		check func(c Config) map[string][2]string // key: {got, want}
	}{
		{"file paths resolve against the file's directory", nil, func(c Config) map[string][2]string {
			return map[string][2]string{
				"node.data_dir":        {c.Node.DataDir, filepath.Join(dir, "data")},
				"node.genesis_file":    {c.Node.GenesisFile, filepath.Join(filepath.Dir(dir), "shared", "genesis.json")},
				"node.agency_key_file": {c.Node.AgencyKeyFile, filepath.Join(dir, "keys", "agency.pem")},
				"node.node_key_file":   {c.Node.NodeKeyFile, abs},
				"api.tls_cert_file":    {c.API.TLSCertFile, filepath.Join(dir, "tls", "api.crt")},
				"api.tls_key_file":     {c.API.TLSKeyFile, filepath.Join(dir, "tls", "api.key")},
				"api.access_log_file":  {c.API.AccessLogFile, filepath.Join(dir, "log", "access.log")},
				"auth.jwks":            {c.Auth.JWKS, filepath.Join(dir, "jwks.json")},
			}
		}},
		{"env paths stay relative to the working directory",
			[]string{"RAAFT_NODE_DATA_DIR=rel/data", "RAAFT_AUTH_JWKS=https://idp.example/certs"},
			func(c Config) map[string][2]string {
				return map[string][2]string{
					"node.data_dir":     {c.Node.DataDir, "rel/data"},
					"auth.jwks":         {c.Auth.JWKS, "https://idp.example/certs"},
					"node.genesis_file": {c.Node.GenesisFile, filepath.Join(filepath.Dir(dir), "shared", "genesis.json")},
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Only the keys without a default come from the environment here;
			// the file's paths must win over requiredEnv's, so drop those.
			env := []string{"RAAFT_NODE_ID=node-a", "RAAFT_NODE_AGENCY=agency-a",
				"RAAFT_AUTH_ISSUER=https://idp.example", "RAAFT_AUTH_AUDIENCE=raaft"}
			c, err := Load(LoadOptions{File: file, Env: append(env, tt.env...)})
			if err != nil {
				t.Fatal(err)
			}
			for key, gw := range tt.check(c) {
				if gw[0] != gw[1] {
					t.Errorf("%s = %q, want %q", key, gw[0], gw[1])
				}
			}
		})
	}
}

func TestLoadURLJWKSNotResolved(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "node.yaml", "auth:\n  jwks: https://idp.example/certs\n")
	c, err := Load(LoadOptions{File: file, Env: requiredEnv("RAAFT_AUTH_JWKS=")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.JWKS != "https://idp.example/certs" {
		t.Errorf("auth.jwks = %q, want the URL untouched", c.Auth.JWKS)
	}
}

// TestExamples loads the example configs in deploy/examples: they must
// load and validate anywhere, and node.yaml must keep showing the defaults.
func TestExamples(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(filepath.Join("..", "deploy", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	prod := Default()
	prod.Node = Node{
		ID:            "adoption-east-1",
		Agency:        "adoption-east",
		DataDir:       "/var/lib/raaft",
		GenesisFile:   "/etc/raaft/genesis.json",
		AgencyKeyFile: "/etc/raaft/keys/agency.pem",
		NodeKeyFile:   "/etc/raaft/keys/node.pem",
	}
	prod.Raft.BindAddr = "0.0.0.0:7400"
	prod.Raft.AdvertiseAddr = "raaft.adoption-east.example:7400"
	prod.Raft.Peers = []Peer{
		{"adoption-east-1", "raaft.adoption-east.example:7400"},
		{"adoption-north-1", "raaft.adoption-north.example:7400"},
		{"adoption-south-1", "raaft.adoption-south.example:7400"},
	}
	prod.API.ListenAddr = "0.0.0.0:8440"
	prod.API.TLSCertFile = "/etc/raaft/tls/api.crt"
	prod.API.TLSKeyFile = "/etc/raaft/tls/api.key"
	prod.API.AccessLogFile = "/var/log/raaft/access.log"
	prod.Auth.Issuer = "https://login.adoption-east.example/realms/raaft"
	prod.Auth.Audience = "raaft-adoption-east"
	prod.Auth.JWKS = "https://login.adoption-east.example/realms/raaft/protocol/openid-connect/certs"

	tests := []struct {
		file  string
		check func(t *testing.T, c Config)
	}{
		{"node.yaml", func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c, prod) {
				t.Errorf("node.yaml drifted from Default:\n got %+v\nwant %+v", c, prod)
			}
		}},
		{"node-test.toml", func(t *testing.T, c Config) {
			if c.Raft.HeartbeatTimeout != 200*time.Millisecond || !c.Raft.NoSync || !c.Auth.DevIssuer ||
				len(c.Raft.Peers) != 3 || c.Node.DataDir != filepath.Join(dir, "data", "node-a") {
				t.Errorf("got %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			c, err := Load(LoadOptions{File: filepath.Join(dir, tt.file), Env: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestEnvNames checks the naming rule and that no two keys share a
// variable, which the "." to "_" rule could in principle cause.
func TestEnvNames(t *testing.T) {
	t.Parallel()
	if got := envName("raft.heartbeat_timeout"); got != "RAAFT_RAFT_HEARTBEAT_TIMEOUT" {
		t.Errorf("envName = %s", got)
	}
	seen := map[string]string{}
	for _, key := range leafKeys(reflect.TypeFor[Config](), "") {
		name := envName(key)
		if other, ok := seen[name]; ok {
			t.Errorf("%s and %s share %s", key, other, name)
		}
		seen[name] = key
	}
	for _, key := range append([]string{"node.id", "raft.peers", "auth.dev_issuer", "log.format"}, pathKeys...) {
		if seen[envName(key)] != key {
			t.Errorf("leafKeys missed %s", key)
		}
	}
}

func TestDerivedValues(t *testing.T) {
	t.Parallel()
	c := valid()
	tests := []struct {
		name, got, want string
	}{
		{"access log defaults into data_dir", c.AccessLogPath(), filepath.Join("/var/lib/raaft", "access.log")},
		{"access log set", func() string { c := c; c.API.AccessLogFile = "/log/a"; return c.AccessLogPath() }(), "/log/a"},
		{"advertise defaults to bind", c.RaftAdvertiseAddr(), "127.0.0.1:7400"},
		{"advertise set", func() string { c := c; c.Raft.AdvertiseAddr = "n.example:7400"; return c.RaftAdvertiseAddr() }(), "n.example:7400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
