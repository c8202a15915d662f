// Package config loads, defaults and validates the configuration of one
// raaft node: its identity (node, agency, keys), Raft timings and addresses,
// the HTTPS API, user authentication, leader forwarding, housekeeping jobs
// and logging.
//
// # Sources and precedence
//
// [Load] builds a [Config] from four sources. For each key the first source
// that sets it wins:
//
//  1. a flag in [LoadOptions.Flags] that was set on the command line
//     (pflag's Changed). The flag's name is the key, e.g.
//     --raft.heartbeat_timeout=300ms. A flag that was not set, even one with
//     a default, is ignored, so its default never beats the environment or
//     the file. Flags whose names are not keys are ignored too, so the
//     command's own flags (--config, --output) can share the set.
//  2. an environment variable RAAFT_<KEY>, where <KEY> is the key upper-cased
//     with "." replaced by "_": raft.heartbeat_timeout is
//     RAAFT_RAFT_HEARTBEAT_TIMEOUT. An empty variable counts as unset.
//     RAAFT_ variables that name no key are ignored, because the CLI may use
//     the same prefix for its own settings.
//  3. the config file [LoadOptions.File], YAML (.yaml, .yml) or TOML (.toml)
//     by extension. A key the file sets that [Config] does not have is an
//     error naming the key, so a misspelt key cannot silently fall back to
//     its default.
//  4. [Default], the one place defaults live.
//
// Then [Load] calls [Config.Validate]; a Config that Load returns without
// error is valid.
//
// # Values
//
// Durations are strings in Go's time.ParseDuration syntax ("300ms", "2s",
// "1m"); a bare number is rejected rather than read as nanoseconds.
// raft.peers is a list of {id, addr} tables in a file; in the environment or
// a flag it is a comma-separated list of id=host:port pairs:
//
//	RAAFT_RAFT_PEERS=agency-a-1=10.0.0.1:7400,agency-b-1=10.0.0.2:7400
//
// Relative paths written in the config file (node.data_dir,
// node.genesis_file, node.agency_key_file, node.node_key_file,
// api.tls_cert_file, api.tls_key_file, api.access_log_file and a file
// auth.jwks) are resolved against the directory that holds the config file,
// so a file and the keys beside it can be moved together. Relative paths
// from the environment or flags are left as they are, relative to the
// process's working directory, as a shell user expects.
//
// [Config.Validate] checks values, not the filesystem: it never opens a key
// or the genesis file. The node reports a missing file when it opens it, so
// an example config validates on any machine.
//
// # Caveats
//
// Keys are case-insensitive: viper lowercases every key it reads, so
// Raft.Heartbeat_Timeout in a file is raft.heartbeat_timeout. For the same
// reason nothing in Config is a map keyed by an identifier (an agency or
// node id, a key id): such keys would be lowercased too. Lists of structs
// are used instead, e.g. raft.peers.
//
// Load never touches viper's global instance and never reads the process
// environment when [LoadOptions.Env] is set, so tests can run in parallel.
package config
