package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// joined returns the problems in an error from Validate.
func joined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestDefaultValidates(t *testing.T) {
	t.Parallel()
	if err := valid().Validate(); err != nil {
		t.Errorf("Default with the required keys set does not validate:\n%v", err)
	}
	// Default alone lacks exactly the keys that have no default.
	want := []string{
		`node.id: "" is empty`,
		`node.agency: "" is empty`,
		`node.data_dir: "" is empty`,
		`node.genesis_file: "" is empty`,
		`node.agency_key_file: "" is empty`,
		`node.node_key_file: "" is empty`,
		`auth.issuer: "" is empty`,
		`auth.audience: "" is empty`,
		`auth.jwks: "" is empty`,
	}
	checkProblems(t, Default().Validate(), want)
}

// checkProblems asserts that err holds exactly one problem per entry of
// want, each containing that entry, in order.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	got := joined(err)
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(got[i].Error(), w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
		}
	}
}

// TestValidate changes one thing in a valid config and lists the problems
// Validate must report, each naming the key and the value.
func TestValidate(t *testing.T) {
	t.Parallel()
	peers := func(ps ...Peer) func(c *Config) {
		return func(c *Config) { c.Raft.Peers = ps }
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // nil: valid
	}{
		// node
		{"node.id bad chars", func(c *Config) { c.Node.ID = "Node_A" }, []string{`node.id: "Node_A" is not a slug; expected a slug matching ^[a-z0-9][a-z0-9-]{1,62}$`}},
		{"node.id too short", func(c *Config) { c.Node.ID = "a" }, []string{`node.id: "a" is not a slug`}},
		{"node.id leading hyphen", func(c *Config) { c.Node.ID = "-ab" }, []string{`node.id: "-ab" is not a slug`}},
		{"node.id 64 long", func(c *Config) { c.Node.ID = strings.Repeat("a", 64) }, []string{"node.id: \"" + strings.Repeat("a", 64) + `" is not a slug`}},
		{"node.id 63 long", func(c *Config) { c.Node.ID = strings.Repeat("a", 63) }, nil},
		{"node.agency", func(c *Config) { c.Node.Agency = "agency a" }, []string{`node.agency: "agency a" is not a slug`}},
		{"node.data_dir", func(c *Config) { c.Node.DataDir = "" }, []string{`node.data_dir: "" is empty; expected a directory path`}},
		{"node.genesis_file", func(c *Config) { c.Node.GenesisFile = "" }, []string{`node.genesis_file: "" is empty`}},
		{"node.agency_key_file", func(c *Config) { c.Node.AgencyKeyFile = "" }, []string{`node.agency_key_file: "" is empty; expected a path to a PEM-encoded Ed25519 private key`}},
		{"node.node_key_file", func(c *Config) { c.Node.NodeKeyFile = "" }, []string{`node.node_key_file: "" is empty`}},
		{"missing files are not checked", func(c *Config) { c.Node.GenesisFile = "/nonexistent/genesis.json" }, nil},

		// raft addresses
		{"raft.bind_addr no port", func(c *Config) { c.Raft.BindAddr = "localhost" }, []string{`raft.bind_addr: "localhost" is not host:port`}},
		{"raft.bind_addr port range", func(c *Config) { c.Raft.BindAddr = "127.0.0.1:70000" }, []string{`raft.bind_addr: "127.0.0.1:70000" has port "70000"`}},
		{"raft.bind_addr port 0 on loopback", func(c *Config) { c.Raft.BindAddr = "127.0.0.1:0" }, nil},
		{"raft.bind_addr all interfaces needs advertise", func(c *Config) { c.Raft.BindAddr = "0.0.0.0:7400" },
			[]string{`raft.advertise_addr: "" is empty while raft.bind_addr "0.0.0.0:7400" has no specific host`}},
		{"raft.bind_addr empty host needs advertise", func(c *Config) { c.Raft.BindAddr = ":7400" },
			[]string{`raft.advertise_addr: "" is empty while raft.bind_addr ":7400"`}},
		{"raft.bind_addr all interfaces with advertise", func(c *Config) {
			c.Raft.BindAddr, c.Raft.AdvertiseAddr = "[::]:7400", "[2001:db8::1]:7400"
		}, nil},
		{"raft.advertise_addr unspecified", func(c *Config) { c.Raft.AdvertiseAddr = "0.0.0.0:7400" }, []string{`raft.advertise_addr: "0.0.0.0:7400" has no specific host`}},
		{"raft.advertise_addr port 0", func(c *Config) { c.Raft.AdvertiseAddr = "n.example:0" }, []string{`raft.advertise_addr: "n.example:0" has port 0`}},
		{"raft.advertise_addr not host:port", func(c *Config) { c.Raft.AdvertiseAddr = "n.example" }, []string{`raft.advertise_addr: "n.example" is not host:port`}},

		// raft timings, hashicorp/raft's rules plus raaft's bounds
		{"raft.heartbeat_timeout below min", func(c *Config) { c.Raft.HeartbeatTimeout = 5 * time.Millisecond },
			[]string{"raft.heartbeat_timeout: 5ms is below 10ms; expected between 10ms and 1m0s",
				"raft.leader_lease_timeout: 1s is above raft.heartbeat_timeout (5ms); expected <= raft.heartbeat_timeout"}},
		{"raft.heartbeat_timeout above max", func(c *Config) { c.Raft.HeartbeatTimeout = 2 * time.Minute },
			[]string{"raft.heartbeat_timeout: 2m0s is above 1m0s",
				"raft.election_timeout: 2s is below raft.heartbeat_timeout (2m0s)"}},
		{"raft.election_timeout below heartbeat", func(c *Config) {
			c.Raft.HeartbeatTimeout, c.Raft.ElectionTimeout, c.Raft.LeaderLeaseTimeout = 200*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond
		}, []string{"raft.election_timeout: 50ms is below raft.heartbeat_timeout (200ms); expected >= raft.heartbeat_timeout"}},
		{"raft.election_timeout below min", func(c *Config) { c.Raft.ElectionTimeout = time.Millisecond },
			[]string{"raft.election_timeout: 1ms is below 10ms", "raft.election_timeout: 1ms is below raft.heartbeat_timeout (2s)"}},
		{"raft.leader_lease_timeout above heartbeat", func(c *Config) { c.Raft.LeaderLeaseTimeout = 3 * time.Second },
			[]string{"raft.leader_lease_timeout: 3s is above raft.heartbeat_timeout (2s); expected <= raft.heartbeat_timeout"}},
		{"raft.leader_lease_timeout below min", func(c *Config) { c.Raft.LeaderLeaseTimeout = 9 * time.Millisecond },
			[]string{"raft.leader_lease_timeout: 9ms is below 10ms"}},
		{"test timings at the floor", func(c *Config) {
			c.Raft.HeartbeatTimeout, c.Raft.ElectionTimeout, c.Raft.LeaderLeaseTimeout = RaftTimeoutMin, RaftTimeoutMin, RaftTimeoutMin
			c.Raft.CommitTimeout, c.Raft.SnapshotInterval, c.Raft.ApplyTimeout = RaftCommitTimeoutMin, RaftTimeoutMin, RaftTimeoutMin
		}, nil},
		{"raft.commit_timeout zero", func(c *Config) { c.Raft.CommitTimeout = 0 },
			[]string{"raft.commit_timeout: 0s is below 1ms; expected between 1ms and 1m0s"}},
		{"raft.max_append_entries zero", func(c *Config) { c.Raft.MaxAppendEntries = 0 },
			[]string{"raft.max_append_entries: 0 is below 1; expected between 1 and 1024"}},
		{"raft.max_append_entries above 1024", func(c *Config) { c.Raft.MaxAppendEntries = 1025 },
			[]string{"raft.max_append_entries: 1025 is above 1024"}},
		{"raft.trailing_logs negative", func(c *Config) { c.Raft.TrailingLogs = -1 }, []string{"raft.trailing_logs: -1 is below 0"}},
		{"raft.trailing_logs zero", func(c *Config) { c.Raft.TrailingLogs = 0 }, nil},
		{"raft.trailing_logs too many", func(c *Config) { c.Raft.TrailingLogs = RaftTrailingLogsMax + 1 }, []string{"raft.trailing_logs: 1048577 is above 1048576"}},
		{"raft.snapshot_threshold zero", func(c *Config) { c.Raft.SnapshotThreshold = 0 }, []string{"raft.snapshot_threshold: 0 is below 1"}},
		{"raft.snapshot_interval", func(c *Config) { c.Raft.SnapshotInterval = time.Millisecond }, []string{"raft.snapshot_interval: 1ms is below 10ms"}},
		{"raft.snapshot_max_age", func(c *Config) { c.Raft.SnapshotMaxAge = 100 * time.Millisecond }, []string{"raft.snapshot_max_age: 100ms is below 1s"}},
		{"raft.voters_max 4", func(c *Config) { c.Raft.VotersMax = 4 }, []string{"raft.voters_max: 4 is not allowed; expected 3 or 5"}},
		{"raft.voters_max 3", func(c *Config) { c.Raft.VotersMax = 3 }, nil},
		{"raft.apply_timeout zero", func(c *Config) { c.Raft.ApplyTimeout = 0 }, []string{"raft.apply_timeout: 0s is below 10ms"}},
		{"raft.apply_timeout above write timeout", func(c *Config) { c.Raft.ApplyTimeout = time.Minute },
			[]string{"api.write_timeout: 30s is below raft.apply_timeout (1m0s); expected >= raft.apply_timeout"}},

		// raft.peers
		{"raft.peers valid", peers(Peer{"node-a", "10.0.0.1:7400"}, Peer{"node-b", "10.0.0.2:7400"}), nil},
		{"raft.peers bad id", peers(Peer{"node-a", "10.0.0.1:7400"}, Peer{"B", "10.0.0.2:7400"}),
			[]string{`raft.peers[1].id: "B" is not a slug`}},
		{"raft.peers bad addr", peers(Peer{"node-a", "10.0.0.1"}), []string{`raft.peers[0].addr: "10.0.0.1" is not host:port`}},
		{"raft.peers undialable addr", peers(Peer{"node-a", "0.0.0.0:7400"}), []string{`raft.peers[0].addr: "0.0.0.0:7400" has no specific host`}},
		{"raft.peers duplicate id", peers(Peer{"node-a", "10.0.0.1:7400"}, Peer{"node-a", "10.0.0.2:7400"}),
			[]string{`raft.peers[1].id: "node-a" repeats raft.peers[0].id; expected unique peer ids`}},
		{"raft.peers duplicate addr", peers(Peer{"node-a", "10.0.0.1:7400"}, Peer{"node-b", "10.0.0.1:7400"}),
			[]string{`raft.peers[1].addr: "10.0.0.1:7400" repeats raft.peers[0].addr`}},
		{"raft.peers without this node", peers(Peer{"node-b", "10.0.0.2:7400"}),
			[]string{`raft.peers: [node-b] do not include node.id "node-a"; expected this node among the bootstrap voters`}},
		{"raft.peers more than voters_max", func(c *Config) {
			c.Raft.VotersMax = 3
			c.Raft.Peers = []Peer{{"node-a", "h:1"}, {"node-b", "h:2"}, {"node-c", "h:3"}, {"node-d", "h:4"}}
		}, []string{`raft.peers: 4 entries are more than raft.voters_max (3); expected at most 3 voters`}},

		// api
		{"api.listen_addr", func(c *Config) { c.API.ListenAddr = "8440" }, []string{`api.listen_addr: "8440" is not host:port`}},
		{"api.listen_addr port 0", func(c *Config) { c.API.ListenAddr = "127.0.0.1:0" }, nil},
		{"api.tls_cert_file alone", func(c *Config) { c.API.TLSCertFile = "api.crt" },
			[]string{`api.tls_key_file: "" is empty while api.tls_cert_file is "api.crt"; expected both or neither`}},
		{"api.tls_key_file alone", func(c *Config) { c.API.TLSKeyFile = "api.key" },
			[]string{`api.tls_cert_file: "" is empty while api.tls_key_file is "api.key"`}},
		{"api tls both", func(c *Config) { c.API.TLSCertFile, c.API.TLSKeyFile = "api.crt", "api.key" }, nil},
		{"api.body_bytes_max zero", func(c *Config) { c.API.BodyBytesMax = 0 }, []string{"api.body_bytes_max: 0 is below 1024"}},
		{"api.body_bytes_max 16 MiB", func(c *Config) { c.API.BodyBytesMax = 16 << 20 }, nil},
		{"api.body_bytes_max above 16 MiB", func(c *Config) { c.API.BodyBytesMax = 16<<20 + 1 },
			[]string{"api.body_bytes_max: 16777217 is above 16777216; expected between 1024 and 16777216"}},
		{"api.read_timeout zero", func(c *Config) { c.API.ReadTimeout = 0 }, []string{"api.read_timeout: 0s is below 100ms"}},
		{"api.write_timeout above max", func(c *Config) { c.API.WriteTimeout = 11 * time.Minute }, []string{"api.write_timeout: 11m0s is above 10m0s"}},
		{"api.write_timeout below forward", func(c *Config) { c.API.WriteTimeout = 5 * time.Second },
			[]string{"api.write_timeout: 5s is below forward.timeout (10s); expected >= forward.timeout",
				"api.write_timeout: 5s is below raft.apply_timeout (10s)"}},
		{"api.shutdown_timeout", func(c *Config) { c.API.ShutdownTimeout = -time.Second }, []string{"api.shutdown_timeout: -1s is below 100ms"}},

		// auth
		{"auth.issuer", func(c *Config) { c.Auth.Issuer = "" }, []string{`auth.issuer: "" is empty`}},
		{"auth.audience", func(c *Config) { c.Auth.Audience = "" }, []string{`auth.audience: "" is empty`}},
		{"auth.jwks empty without dev issuer", func(c *Config) { c.Auth.JWKS = "" },
			[]string{`auth.jwks: "" is empty and auth.dev_issuer is false; expected a file path or an https:// URL`}},
		{"auth.jwks empty with dev issuer", func(c *Config) { c.Auth.JWKS, c.Auth.DevIssuer = "", true }, nil},
		{"auth.jwks http", func(c *Config) { c.Auth.JWKS = "http://idp.example/certs" },
			[]string{`auth.jwks: "http://idp.example/certs" is not an https URL`}},
		{"auth.jwks https without host", func(c *Config) { c.Auth.JWKS = "https:///certs" },
			[]string{`auth.jwks: "https:///certs" is not an https URL`}},
		{"auth.jwks file", func(c *Config) { c.Auth.JWKS = "/etc/raaft/jwks.json" }, nil},
		{"auth.role_claim", func(c *Config) { c.Auth.RoleClaim = "" }, []string{`auth.role_claim: "" is empty`}},
		{"auth.clock_skew negative", func(c *Config) { c.Auth.ClockSkew = -time.Second }, []string{"auth.clock_skew: -1s is below 0s"}},
		{"auth.clock_skew zero", func(c *Config) { c.Auth.ClockSkew = 0 }, nil},
		{"auth.clock_skew above 5m", func(c *Config) { c.Auth.ClockSkew = 6 * time.Minute },
			[]string{"auth.clock_skew: 6m0s is above 5m0s; expected between 0s and 5m0s"}},
		{"auth.oidc off without client_id", func(c *Config) { c.Auth.OIDC.AuthURL = "not a url" }, nil},
		{"auth.oidc URLs", func(c *Config) {
			c.Auth.OIDC = OIDC{ClientID: "raaft", AuthURL: "login.example/authorize", TokenURL: "https://login.example/token", RedirectURL: "ftp://x/cb"}
		}, []string{
			`auth.oidc.auth_url: "login.example/authorize" is not an absolute URL; expected an https:// URL (http:// only on loopback)`,
			`auth.oidc.redirect_url: "ftp://x/cb" is not an absolute URL; expected an https:// URL (http:// only on loopback)`,
		}},

		// forward, housekeeping, log
		{"forward.timeout zero", func(c *Config) { c.Forward.Timeout = 0 }, []string{"forward.timeout: 0s is below 10ms"}},
		{"forward.timeout above max", func(c *Config) { c.Forward.Timeout = 6 * time.Minute },
			[]string{"forward.timeout: 6m0s is above 5m0s", "api.write_timeout: 30s is below forward.timeout (6m0s)"}},
		{"housekeeping.expire_interval", func(c *Config) { c.Housekeeping.ExpireInterval = 0 },
			[]string{"housekeeping.expire_interval: 0s is below 10ms"}},
		{"housekeeping.checkpoint_interval", func(c *Config) { c.Housekeeping.CheckpointInterval = 48 * time.Hour },
			[]string{"housekeeping.checkpoint_interval: 48h0m0s is above 24h0m0s"}},
		{"log.level", func(c *Config) { c.Log.Level = "INFO" }, []string{`log.level: "INFO" is not allowed; expected one of debug, info, warn, error`}},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }, []string{`log.format: "xml" is not allowed; expected one of json, text`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.change(&c)
			checkProblems(t, c.Validate(), tt.want)
		})
	}
}

// TestValidateReportsAll checks that problems in different sections are
// all reported, in order, rather than only the first.
func TestValidateReportsAll(t *testing.T) {
	t.Parallel()
	c := valid()
	c.Node.ID = "X"
	c.Raft.VotersMax = 7
	c.API.TLSCertFile = "api.crt"
	c.Auth.ClockSkew = time.Hour
	c.Log.Format = "yaml"
	err := c.Validate()
	checkProblems(t, err, []string{"node.id", "raft.voters_max", "api.tls_key_file", "auth.clock_skew", "log.format"})
	if !strings.Contains(err.Error(), "\n") {
		t.Errorf("problems are not one per line:\n%v", err)
	}
	var target interface{ Unwrap() []error }
	if !errors.As(err, &target) {
		t.Errorf("Validate's error is not an errors.Join: %T", err)
	}
}
