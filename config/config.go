package config

import (
	"path/filepath"
	"time"
)

// Bounds that [Config.Validate] enforces. Each names the key it bounds, and a
// value outside its bound is an error, never silently clamped.
const (
	// RaftTimeoutMin is the lowest raft.heartbeat_timeout,
	// raft.election_timeout and raft.leader_lease_timeout. hashicorp/raft
	// accepts 5ms; 10ms leaves room for the scheduler in fast tests.
	RaftTimeoutMin = 10 * time.Millisecond
	// RaftTimeoutMax is the highest raft.heartbeat_timeout,
	// raft.election_timeout, raft.leader_lease_timeout and
	// raft.commit_timeout. Longer timeouts mean a dead leader goes unnoticed
	// for minutes; it mostly catches unit mistakes ("2m" for "2s").
	RaftTimeoutMax = time.Minute
	// RaftCommitTimeoutMin is the lowest raft.commit_timeout, hashicorp/raft's
	// own floor (ValidateConfig: "CommitTimeout is too low").
	RaftCommitTimeoutMin = time.Millisecond
	// RaftMaxAppendEntriesLimit is the highest raft.max_append_entries,
	// hashicorp/raft's own ceiling ("MaxAppendEntries is too large").
	RaftMaxAppendEntriesLimit = 1024
	// RaftTrailingLogsMax is the highest raft.trailing_logs. It bounds the
	// log kept on disk after a snapshot; a follower further behind than this
	// is better served by installing a snapshot.
	RaftTrailingLogsMax = 1 << 20
	// RaftSnapshotThresholdMax is the highest raft.snapshot_threshold: the
	// most log entries written between snapshots.
	RaftSnapshotThresholdMax = 1 << 20
	// RaftSnapshotIntervalMax is the highest raft.snapshot_interval. The
	// lowest is RaftTimeoutMin.
	RaftSnapshotIntervalMax = 24 * time.Hour
	// RaftApplyTimeoutMax is the highest raft.apply_timeout. The lowest is
	// RaftTimeoutMin.
	RaftApplyTimeoutMax = 5 * time.Minute

	// APIBodyBytesMin is the lowest api.body_bytes_max: below 1 KiB no
	// signed command fits.
	APIBodyBytesMin = 1 << 10
	// APIBodyBytesMaxLimit is the highest api.body_bytes_max (16 MiB). A
	// request body is held in memory while it is verified.
	APIBodyBytesMaxLimit = 16 << 20
	// APITimeoutMin is the lowest api.read_timeout, api.write_timeout and
	// api.shutdown_timeout. Zero would mean "no timeout" to net/http, which
	// lets slow clients hold connections forever.
	APITimeoutMin = 100 * time.Millisecond
	// APITimeoutMax is the highest api.read_timeout, api.write_timeout and
	// api.shutdown_timeout.
	APITimeoutMax = 10 * time.Minute

	// AuthClockSkewMax is the highest auth.clock_skew. The lowest is 0.
	AuthClockSkewMax = 5 * time.Minute

	// ForwardTimeoutMax is the highest forward.timeout. The lowest is
	// RaftTimeoutMin.
	ForwardTimeoutMax = 5 * time.Minute

	// HousekeepingIntervalMin is the lowest housekeeping.expire_interval and
	// housekeeping.checkpoint_interval; tests run jobs this often.
	HousekeepingIntervalMin = 10 * time.Millisecond
	// HousekeepingIntervalMax is the highest housekeeping.expire_interval
	// and housekeeping.checkpoint_interval.
	HousekeepingIntervalMax = 24 * time.Hour
)

// Config is the whole configuration of one node. Build it with [Default] or
// [Load]; a zero Config is not valid. Config is a plain value, safe to copy
// and to read from many goroutines.
//
// Each field's mapstructure tag is its key below its section, so
// Raft.HeartbeatTimeout is raft.heartbeat_timeout.
type Config struct {
	// Node is the node's identity and files (section node).
	Node Node `mapstructure:"node"`
	// Raft is consensus timing, addresses and bootstrap peers (section raft).
	Raft Raft `mapstructure:"raft"`
	// API is the HTTPS API's address, TLS and limits (section api).
	API API `mapstructure:"api"`
	// Auth is how users' JWTs are checked (section auth).
	Auth Auth `mapstructure:"auth"`
	// Forward is how followers forward writes to the leader (section forward).
	Forward Forward `mapstructure:"forward"`
	// Housekeeping is the periodic jobs' intervals (section housekeeping).
	Housekeeping Housekeeping `mapstructure:"housekeeping"`
	// Log is the structured log's level and format (section log).
	Log Log `mapstructure:"log"`
}

// Node is the node's identity and where it keeps its files (section node).
// Every field is required; none has a default.
type Node struct {
	// ID is this node's Raft server id, a slug matching ^[a-z0-9][a-z0-9-]{1,62}$
	// (key node.id). It must be unique in the federation and never reused.
	ID string `mapstructure:"id"`
	// Agency is the slug of the agency that runs this node, the same
	// pattern as ID (key node.agency).
	Agency string `mapstructure:"agency"`
	// DataDir holds raft.db, ledger.db, snapshots and, by default, the
	// access log (key node.data_dir).
	DataDir string `mapstructure:"data_dir"`
	// GenesisFile is the signed genesis document the node checks at
	// bootstrap (key node.genesis_file).
	GenesisFile string `mapstructure:"genesis_file"`
	// AgencyKeyFile is the PEM-encoded Ed25519 private key that signs this
	// agency's ledger entries and checkpoints (key node.agency_key_file).
	AgencyKeyFile string `mapstructure:"agency_key_file"`
	// NodeKeyFile is the PEM-encoded Ed25519 private key of this node's TLS
	// identity, registered for the agency in the ledger
	// (key node.node_key_file).
	NodeKeyFile string `mapstructure:"node_key_file"`
}

// Raft configures consensus and the QUIC peer transport (section raft).
//
// The timing defaults are WAN-safe: agencies' nodes talk across the public
// internet, so timeouts are seconds, not hashicorp/raft's LAN defaults
// (1s/1s/500ms). Consul runs production servers at raft_multiplier 5, i.e.
// 5s heartbeat and election timeouts, and recommends multi-second timeouts
// for slow or distant links
// (https://developer.hashicorp.com/consul/docs/reference/architecture/server,
// https://gist.github.com/armon/465c52249cccd48f7324). raaft's 2s suits
// links with round trips under ~100ms; raise heartbeat and election together
// on worse links. Tests use 100-300ms (see deploy/examples/node-test.toml).
type Raft struct {
	// BindAddr is the local UDP host:port the QUIC transport listens on
	// (key raft.bind_addr, default "127.0.0.1:7400"). Port 0 picks a free
	// port, for tests.
	BindAddr string `mapstructure:"bind_addr"`
	// AdvertiseAddr is the host:port peers dial to reach this node
	// (key raft.advertise_addr). Empty means BindAddr; see
	// [Config.RaftAdvertiseAddr]. Required when BindAddr's host is empty or
	// unspecified (0.0.0.0, ::).
	AdvertiseAddr string `mapstructure:"advertise_addr"`
	// HeartbeatTimeout is how long a follower waits without contact from
	// the leader before it starts an election; the leader heartbeats every
	// tenth of it (key raft.heartbeat_timeout, default 2s, range
	// [RaftTimeoutMin, RaftTimeoutMax]).
	HeartbeatTimeout time.Duration `mapstructure:"heartbeat_timeout"`
	// ElectionTimeout is how long a candidate waits for votes before it
	// retries (key raft.election_timeout, default 2s, same range, and at
	// least HeartbeatTimeout, as hashicorp/raft requires).
	ElectionTimeout time.Duration `mapstructure:"election_timeout"`
	// LeaderLeaseTimeout is how long a leader stays leader without contact
	// from a quorum (key raft.leader_lease_timeout, default 1s, same range,
	// and at most HeartbeatTimeout, as hashicorp/raft requires).
	LeaderLeaseTimeout time.Duration `mapstructure:"leader_lease_timeout"`
	// CommitTimeout is how long the leader waits without an Apply before it
	// sends a heartbeat carrying the commit index (key raft.commit_timeout,
	// default 50ms, range [RaftCommitTimeoutMin, RaftTimeoutMax]).
	CommitTimeout time.Duration `mapstructure:"commit_timeout"`
	// MaxAppendEntries is the most log entries sent in one AppendEntries
	// RPC and applied in one FSM batch (key raft.max_append_entries,
	// default 512, range [1, RaftMaxAppendEntriesLimit]).
	MaxAppendEntries int `mapstructure:"max_append_entries"`
	// TrailingLogs is how many log entries are kept after a snapshot so a
	// slightly lagging follower catches up from the log
	// (key raft.trailing_logs, default 10240, range [0, RaftTrailingLogsMax]).
	TrailingLogs int `mapstructure:"trailing_logs"`
	// SnapshotThreshold is how many new log entries trigger a snapshot
	// (key raft.snapshot_threshold, default 8192, range
	// [1, RaftSnapshotThresholdMax]).
	SnapshotThreshold int `mapstructure:"snapshot_threshold"`
	// SnapshotInterval is how often the node checks SnapshotThreshold
	// (key raft.snapshot_interval, default 120s, range
	// [RaftTimeoutMin, RaftSnapshotIntervalMax]).
	SnapshotInterval time.Duration `mapstructure:"snapshot_interval"`
	// SnapshotMaxAge is the longest the node goes without a snapshot while
	// entries arrive, however few (key raft.snapshot_max_age, default 1h,
	// range [1s, RaftSnapshotIntervalMax]): a copy of the newest snapshot
	// is at most this old.
	SnapshotMaxAge time.Duration `mapstructure:"snapshot_max_age"`
	// VotersMax is how many voters the federation keeps; every further
	// agency's node is a nonvoter (key raft.voters_max, 3 or 5, default 5).
	// An even count adds no fault tolerance; more than 5 slows every commit.
	VotersMax int `mapstructure:"voters_max"`
	// ApplyTimeout bounds one Raft Apply on the leader, enqueueing and
	// commit included (key raft.apply_timeout, default 10s, range
	// [RaftTimeoutMin, RaftApplyTimeoutMax]).
	ApplyTimeout time.Duration `mapstructure:"apply_timeout"`
	// NoSync skips fsync in the Raft log store (key raft.no_sync, default
	// false). For tests only, never in production: Raft acknowledges a
	// write before it is on disk, so a power cut can lose acknowledged
	// writes.
	NoSync bool `mapstructure:"no_sync"`
	// Peers are the voters of the initial Raft configuration, this node
	// included, used only when bootstrapping a new federation (key
	// raft.peers, optional, at most VotersMax entries). Every bootstrapping
	// voter must list the same peers. Editing the list later does not
	// change membership; joins and removals go through the ledger.
	Peers []Peer `mapstructure:"peers"`
}

// Peer is one voter of the bootstrap configuration (an entry of raft.peers).
type Peer struct {
	// ID is the peer's node id (a node.id slug).
	ID string `mapstructure:"id"`
	// Addr is the host:port the peer advertises (its raft.advertise_addr).
	Addr string `mapstructure:"addr"`
}

// API configures the HTTPS API and web console (section api).
type API struct {
	// ListenAddr is the TCP host:port the API listens on
	// (key api.listen_addr, default "127.0.0.1:8440"). Port 0 picks a free
	// port, for tests.
	ListenAddr string `mapstructure:"listen_addr"`
	// TLSCertFile is the PEM certificate chain the API serves
	// (key api.tls_cert_file). Give it and TLSKeyFile, or neither; with
	// neither the API speaks plain HTTP, for loopback or behind a
	// TLS-terminating proxy.
	TLSCertFile string `mapstructure:"tls_cert_file"`
	// TLSKeyFile is the PEM private key for TLSCertFile
	// (key api.tls_key_file).
	TLSKeyFile string `mapstructure:"tls_key_file"`
	// BodyBytesMax is the largest request body accepted, in bytes; larger
	// bodies are refused, never truncated (key api.body_bytes_max, default
	// 1 MiB, range [APIBodyBytesMin, APIBodyBytesMaxLimit]).
	BodyBytesMax int64 `mapstructure:"body_bytes_max"`
	// ReadTimeout bounds reading one request, body included
	// (key api.read_timeout, default 10s, range [APITimeoutMin, APITimeoutMax]).
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// WriteTimeout bounds handling one request and writing its response; it
	// must cover a forwarded write (key api.write_timeout, default 30s, same
	// range).
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// ShutdownTimeout bounds the graceful drain of in-flight requests on
	// stop (key api.shutdown_timeout, default 20s, same range).
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// AccessLogFile is where every API request, listing reads included, is
	// logged for audit (key api.access_log_file). Empty means
	// <data_dir>/access.log; see [Config.AccessLogPath].
	AccessLogFile string `mapstructure:"access_log_file"`
}

// Auth configures how users' JWTs are checked (section auth).
type Auth struct {
	// Issuer is the required "iss" claim: the agency's identity provider
	// (key auth.issuer, required).
	Issuer string `mapstructure:"issuer"`
	// Audience is the required "aud" claim, naming this node's API
	// (key auth.audience, required).
	Audience string `mapstructure:"audience"`
	// JWKS is where the issuer's public keys come from: a file path or an
	// https:// URL (key auth.jwks). Required unless DevIssuer is true.
	JWKS string `mapstructure:"jwks"`
	// RoleClaim is the claim that lists a user's roles (matching, finance,
	// operator, auditor) (key auth.role_claim, default "roles").
	RoleClaim string `mapstructure:"role_claim"`
	// ClockSkew is the leeway allowed on exp, nbf and iat
	// (key auth.clock_skew, default 30s, range [0, AuthClockSkewMax]).
	ClockSkew time.Duration `mapstructure:"clock_skew"`
	// DevIssuer makes the node trust tokens signed by its own node-local
	// issuer key, for trying raaft out without an identity provider
	// (key auth.dev_issuer, default false). Anyone who can reach the node's
	// token endpoint can then act for the agency, so never enable it in
	// production.
	DevIssuer bool `mapstructure:"dev_issuer"`
	// OIDC is the web console's "Sign in with your agency" flow; off
	// unless auth.oidc.client_id is set (section auth.oidc).
	OIDC OIDC `mapstructure:"oidc"`
}

// OIDC configures the console's OpenID Connect authorization code flow
// with PKCE (section auth.oidc). The provider's tokens must pass the
// checks above (issuer, audience, JWKS, roles claim).
type OIDC struct {
	// ClientID is this node's client at the provider; empty turns the flow
	// off (key auth.oidc.client_id).
	ClientID string `mapstructure:"client_id"`
	// ClientSecretFile holds the client secret; empty for a public client
	// (key auth.oidc.client_secret_file).
	ClientSecretFile string `mapstructure:"client_secret_file"`
	// AuthURL is the provider's authorization endpoint (key auth.oidc.auth_url).
	AuthURL string `mapstructure:"auth_url"`
	// TokenURL is the provider's token endpoint (key auth.oidc.token_url).
	TokenURL string `mapstructure:"token_url"`
	// RedirectURL is the console's /signin/callback as users' browsers
	// reach it, registered at the provider (key auth.oidc.redirect_url).
	RedirectURL string `mapstructure:"redirect_url"`
	// Scopes requested besides openid (key auth.oidc.scopes).
	Scopes []string `mapstructure:"scopes"`
}

// Forward configures how a follower forwards writes to the leader
// (section forward).
type Forward struct {
	// Timeout is the deadline for one forwarded write, retries at a new
	// leader included (key forward.timeout, default 10s, range
	// [RaftTimeoutMin, ForwardTimeoutMax]). When it passes the outcome is
	// unknown, and the client retries with the same idempotency id.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Housekeeping configures the node's periodic jobs (section housekeeping).
type Housekeeping struct {
	// ExpireInterval is how often the leader proposes expiry of
	// reservations past their end in ledger time
	// (key housekeeping.expire_interval, default 1m, range
	// [HousekeepingIntervalMin, HousekeepingIntervalMax]).
	ExpireInterval time.Duration `mapstructure:"expire_interval"`
	// CheckpointInterval is how often the node signs a checkpoint of the
	// ledger's size and Merkle root (key housekeeping.checkpoint_interval,
	// default 30s, same range).
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
	// IntegrityInterval is how often the node checks its whole ledger
	// while it runs: the hash chain, the Merkle tree and the state sum of
	// every entry (ledger.CheckIntegrity, about 3 s of one core for a
	// million entries); damage found stops the node serving and rebuilds
	// its ledger (key housekeeping.integrity_interval, default 6h, same
	// range).
	IntegrityInterval time.Duration `mapstructure:"integrity_interval"`
}

// Log configures the node's structured log (section log).
type Log struct {
	// Level is the lowest level logged: debug, info, warn or error
	// (key log.level, default info).
	Level string `mapstructure:"level"`
	// Format is json or text (key log.format, default json).
	Format string `mapstructure:"format"`
}

// Default returns the defaults for every key; it is the only place they are
// written down. The node section and the auth issuer, audience and jwks have
// no default, so Default().Validate() reports exactly those as missing.
func Default() Config {
	return Config{
		Raft: Raft{
			BindAddr:           "127.0.0.1:7400",
			HeartbeatTimeout:   2 * time.Second,
			ElectionTimeout:    2 * time.Second,
			LeaderLeaseTimeout: time.Second,
			CommitTimeout:      50 * time.Millisecond,
			MaxAppendEntries:   512,
			TrailingLogs:       10240,
			SnapshotThreshold:  8192,
			SnapshotInterval:   120 * time.Second,
			SnapshotMaxAge:     time.Hour,
			VotersMax:          5,
			ApplyTimeout:       10 * time.Second,
		},
		API: API{
			ListenAddr:      "127.0.0.1:8440",
			BodyBytesMax:    1 << 20,
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    30 * time.Second,
			ShutdownTimeout: 20 * time.Second,
		},
		Auth: Auth{
			RoleClaim: "roles",
			ClockSkew: 30 * time.Second,
		},
		Forward: Forward{Timeout: 10 * time.Second},
		Housekeeping: Housekeeping{
			ExpireInterval:     time.Minute,
			CheckpointInterval: 30 * time.Second,
			IntegrityInterval:  6 * time.Hour,
		},
		Log: Log{Level: "info", Format: "json"},
	}
}

// AccessLogPath returns the file the API's access log goes to:
// api.access_log_file, or <node.data_dir>/access.log when that is empty.
func (c Config) AccessLogPath() string {
	if c.API.AccessLogFile != "" {
		return c.API.AccessLogFile
	}
	return filepath.Join(c.Node.DataDir, "access.log")
}

// RaftAdvertiseAddr returns the address peers dial to reach this node:
// raft.advertise_addr, or raft.bind_addr when that is empty. If the result
// has port 0 the caller substitutes the port it actually bound.
func (c Config) RaftAdvertiseAddr() string {
	if c.Raft.AdvertiseAddr != "" {
		return c.Raft.AdvertiseAddr
	}
	return c.Raft.BindAddr
}
