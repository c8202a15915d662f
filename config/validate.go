package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// slugPattern is the form of node.id, node.agency and peer ids: lowercase
// letters, digits and hyphens, 2 to 63 long, not starting with a hyphen, so
// an id is also a valid DNS label and file name.
var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// Validate reports every problem in c, joined with errors.Join, or nil.
// Each message has the form "key: value problem; expected ...", e.g.
//
//	raft.election_timeout: 50ms is below raft.heartbeat_timeout (200ms); expected >= raft.heartbeat_timeout
//
// Validate checks values only. It does not open files or resolve hosts:
// the node reports those problems when it opens or dials them.
func (c Config) Validate() error {
	var p problems
	c.Node.validate(&p)
	c.Raft.validate(&p, c.Node.ID)
	c.API.validate(&p)
	c.Auth.validate(&p)
	p.duration("forward.timeout", c.Forward.Timeout, RaftTimeoutMin, ForwardTimeoutMax)
	// A handler that gives up before its write does leaves the user with an
	// unknown outcome even when the write commits.
	if c.API.WriteTimeout < c.Forward.Timeout {
		p.add("api.write_timeout", c.API.WriteTimeout,
			fmt.Sprintf("is below forward.timeout (%s)", c.Forward.Timeout), ">= forward.timeout")
	}
	if c.API.WriteTimeout < c.Raft.ApplyTimeout {
		p.add("api.write_timeout", c.API.WriteTimeout,
			fmt.Sprintf("is below raft.apply_timeout (%s)", c.Raft.ApplyTimeout), ">= raft.apply_timeout")
	}
	p.duration("housekeeping.expire_interval", c.Housekeeping.ExpireInterval, HousekeepingIntervalMin, HousekeepingIntervalMax)
	p.duration("housekeeping.checkpoint_interval", c.Housekeeping.CheckpointInterval, HousekeepingIntervalMin, HousekeepingIntervalMax)
	p.duration("housekeeping.integrity_interval", c.Housekeeping.IntegrityInterval, HousekeepingIntervalMin, HousekeepingIntervalMax)
	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.oneOf("log.format", c.Log.Format, "json", "text")
	return errors.Join(p...)
}

func (n Node) validate(p *problems) {
	p.slug("node.id", n.ID)
	p.slug("node.agency", n.Agency)
	p.required("node.data_dir", n.DataDir, "a directory path")
	p.required("node.genesis_file", n.GenesisFile, "a file path")
	p.required("node.agency_key_file", n.AgencyKeyFile, "a path to a PEM-encoded Ed25519 private key")
	p.required("node.node_key_file", n.NodeKeyFile, "a path to a PEM-encoded Ed25519 private key")
}

// validate applies hashicorp/raft's ValidateConfig rules (election >=
// heartbeat, lease <= heartbeat, commit timeout >= 1ms, 1..1024 entries per
// append) with raaft's tighter bounds, and checks the addresses and peers.
func (r Raft) validate(p *problems, nodeID string) {
	p.addr("raft.bind_addr", r.BindAddr, false)
	if r.AdvertiseAddr != "" {
		p.addr("raft.advertise_addr", r.AdvertiseAddr, true)
	} else if host, _, err := net.SplitHostPort(r.BindAddr); err == nil && unspecifiedHost(host) {
		p.add("raft.advertise_addr", "",
			fmt.Sprintf("is empty while raft.bind_addr %q has no specific host", r.BindAddr),
			"the host:port peers dial to reach this node")
	}
	p.duration("raft.heartbeat_timeout", r.HeartbeatTimeout, RaftTimeoutMin, RaftTimeoutMax)
	p.duration("raft.election_timeout", r.ElectionTimeout, RaftTimeoutMin, RaftTimeoutMax)
	p.duration("raft.leader_lease_timeout", r.LeaderLeaseTimeout, RaftTimeoutMin, RaftTimeoutMax)
	if r.ElectionTimeout < r.HeartbeatTimeout {
		p.add("raft.election_timeout", r.ElectionTimeout,
			fmt.Sprintf("is below raft.heartbeat_timeout (%s)", r.HeartbeatTimeout), ">= raft.heartbeat_timeout")
	}
	if r.LeaderLeaseTimeout > r.HeartbeatTimeout {
		p.add("raft.leader_lease_timeout", r.LeaderLeaseTimeout,
			fmt.Sprintf("is above raft.heartbeat_timeout (%s)", r.HeartbeatTimeout), "<= raft.heartbeat_timeout")
	}
	p.duration("raft.commit_timeout", r.CommitTimeout, RaftCommitTimeoutMin, RaftTimeoutMax)
	p.integer("raft.max_append_entries", int64(r.MaxAppendEntries), 1, RaftMaxAppendEntriesLimit)
	p.integer("raft.trailing_logs", int64(r.TrailingLogs), 0, RaftTrailingLogsMax)
	p.integer("raft.snapshot_threshold", int64(r.SnapshotThreshold), 1, RaftSnapshotThresholdMax)
	p.duration("raft.snapshot_interval", r.SnapshotInterval, RaftTimeoutMin, RaftSnapshotIntervalMax)
	p.duration("raft.snapshot_max_age", r.SnapshotMaxAge, time.Second, RaftSnapshotIntervalMax)
	if r.VotersMax != 3 && r.VotersMax != 5 {
		p.add("raft.voters_max", r.VotersMax, "is not allowed", "3 or 5")
	}
	p.duration("raft.apply_timeout", r.ApplyTimeout, RaftTimeoutMin, RaftApplyTimeoutMax)
	r.validatePeers(p, nodeID)
}

// validatePeers checks the bootstrap configuration: well-formed and unique
// entries, no more than raft.voters_max, and this node among them.
func (r Raft) validatePeers(p *problems, nodeID string) {
	if len(r.Peers) == 0 {
		return
	}
	if (r.VotersMax == 3 || r.VotersMax == 5) && len(r.Peers) > r.VotersMax {
		p.add("raft.peers", len(r.Peers),
			fmt.Sprintf("entries are more than raft.voters_max (%d)", r.VotersMax), fmt.Sprintf("at most %d voters", r.VotersMax))
	}
	ids := map[string]int{}
	addrs := map[string]int{}
	var idList []string
	self := false
	for i, peer := range r.Peers {
		idKey := fmt.Sprintf("raft.peers[%d].id", i)
		addrKey := fmt.Sprintf("raft.peers[%d].addr", i)
		p.slug(idKey, peer.ID)
		p.addr(addrKey, peer.Addr, true)
		if j, ok := ids[peer.ID]; ok && peer.ID != "" {
			p.add(idKey, peer.ID, fmt.Sprintf("repeats raft.peers[%d].id", j), "unique peer ids")
		}
		if j, ok := addrs[peer.Addr]; ok && peer.Addr != "" {
			p.add(addrKey, peer.Addr, fmt.Sprintf("repeats raft.peers[%d].addr", j), "unique peer addresses")
		}
		if _, ok := ids[peer.ID]; !ok {
			ids[peer.ID] = i
		}
		if _, ok := addrs[peer.Addr]; !ok {
			addrs[peer.Addr] = i
		}
		idList = append(idList, peer.ID)
		self = self || peer.ID == nodeID
	}
	if !self {
		p.add("raft.peers", idList,
			fmt.Sprintf("do not include node.id %q", nodeID), "this node among the bootstrap voters")
	}
}

func (a API) validate(p *problems) {
	p.addr("api.listen_addr", a.ListenAddr, false)
	if (a.TLSCertFile == "") != (a.TLSKeyFile == "") {
		if a.TLSCertFile == "" {
			p.add("api.tls_cert_file", "", fmt.Sprintf("is empty while api.tls_key_file is %q", a.TLSKeyFile), "both or neither")
		} else {
			p.add("api.tls_key_file", "", fmt.Sprintf("is empty while api.tls_cert_file is %q", a.TLSCertFile), "both or neither")
		}
	}
	p.integer("api.body_bytes_max", a.BodyBytesMax, APIBodyBytesMin, APIBodyBytesMaxLimit)
	p.duration("api.read_timeout", a.ReadTimeout, APITimeoutMin, APITimeoutMax)
	p.duration("api.write_timeout", a.WriteTimeout, APITimeoutMin, APITimeoutMax)
	p.duration("api.shutdown_timeout", a.ShutdownTimeout, APITimeoutMin, APITimeoutMax)
}

func (a Auth) validate(p *problems) {
	p.required("auth.issuer", a.Issuer, `the "iss" claim of the agency's identity provider`)
	p.required("auth.audience", a.Audience, `the "aud" claim naming this node's API`)
	switch {
	case a.JWKS == "" && !a.DevIssuer:
		p.add("auth.jwks", "", "is empty and auth.dev_issuer is false", "a file path or an https:// URL")
	case isURL(a.JWKS):
		if u, err := url.Parse(a.JWKS); err != nil || u.Scheme != "https" || u.Host == "" {
			p.add("auth.jwks", a.JWKS, "is not an https URL", "a file path or an https:// URL")
		}
	}
	p.required("auth.role_claim", a.RoleClaim, "the name of the claim listing roles")
	p.duration("auth.clock_skew", a.ClockSkew, 0, AuthClockSkewMax)
	if a.OIDC.ClientID != "" {
		for _, u := range []struct{ key, val string }{
			{"auth.oidc.auth_url", a.OIDC.AuthURL}, {"auth.oidc.token_url", a.OIDC.TokenURL}, {"auth.oidc.redirect_url", a.OIDC.RedirectURL},
		} {
			if pu, err := url.Parse(u.val); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
				p.add(u.key, u.val, "is not an absolute URL", "an https:// URL (http:// only on loopback)")
			}
		}
	}
}

// problems collects what Validate finds, in the order it checks.
type problems []error

// add records that key holds value, which has problem; expected says what
// would be accepted.
func (p *problems) add(key string, value any, problem, expected string) {
	var shown string
	switch v := value.(type) {
	case string:
		shown = strconv.Quote(v)
	case time.Duration:
		shown = v.String()
	default:
		shown = fmt.Sprint(v)
	}
	*p = append(*p, fmt.Errorf("%s: %s %s; expected %s", key, shown, problem, expected))
}

func (p *problems) required(key, value, expected string) {
	if value == "" {
		p.add(key, value, "is empty", expected)
	}
}

func (p *problems) slug(key, value string) {
	expected := "a slug matching " + slugPattern.String()
	switch {
	case value == "":
		p.add(key, value, "is empty", expected)
	case !slugPattern.MatchString(value):
		p.add(key, value, "is not a slug", expected+" (lowercase letters, digits, hyphens; 2 to 63 long)")
	}
}

func (p *problems) duration(key string, d, lo, hi time.Duration) {
	switch {
	case d < lo:
		p.add(key, d, "is below "+lo.String(), fmt.Sprintf("between %s and %s", lo, hi))
	case d > hi:
		p.add(key, d, "is above "+hi.String(), fmt.Sprintf("between %s and %s", lo, hi))
	}
}

func (p *problems) integer(key string, n, lo, hi int64) {
	switch {
	case n < lo:
		p.add(key, n, fmt.Sprintf("is below %d", lo), fmt.Sprintf("between %d and %d", lo, hi))
	case n > hi:
		p.add(key, n, fmt.Sprintf("is above %d", hi), fmt.Sprintf("between %d and %d", lo, hi))
	}
}

func (p *problems) oneOf(key, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	p.add(key, value, "is not allowed", "one of "+strings.Join(allowed, ", "))
}

// addr checks a host:port. A dialable address is one a peer can connect
// to: a specific host and a non-zero port. A listen address may have an
// empty or unspecified host (all interfaces) and port 0 (any free port).
func (p *problems) addr(key, value string, dialable bool) {
	expected := "host:port such as 10.0.0.1:7400"
	if dialable {
		expected = "a host:port peers can dial, such as node1.agency.example:7400"
	}
	host, port, err := net.SplitHostPort(value)
	if err != nil {
		p.add(key, value, "is not host:port", expected)
		return
	}
	n, err := strconv.Atoi(port)
	switch {
	case err != nil || n < 0 || n > 65535:
		p.add(key, value, fmt.Sprintf("has port %q, not a number from 0 to 65535", port), expected)
	case dialable && unspecifiedHost(host):
		p.add(key, value, "has no specific host", expected)
	case dialable && n == 0:
		p.add(key, value, "has port 0", expected)
	}
}

// unspecifiedHost reports whether host means "all interfaces": empty,
// 0.0.0.0 or ::.
func unspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
