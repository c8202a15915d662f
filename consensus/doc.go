// Package consensus replicates the ledger with hashicorp/raft over QUIC.
//
// It provides raft's storage (BoltStore: the log and stable store on one
// bbolt file, raft.db) and its network (QUICLayer: a raft.StreamLayer over
// QUIC with mutual TLS 1.3, peers pinned by their registered Ed25519 node
// keys, plus a second ALPN for node-to-node RPC such as leader forwarding).
package consensus
