package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/raaft/raaft/ledger"
)

// Node-to-node RPC over the raaft-rpc/1 ALPN: one request and one
// response per QUIC stream, each a 4-byte big-endian length and a JSON body.
// Raft itself uses the raaft-raft/1 ALPN and its own framing.
const (
	rpcFrameBytesMax = 1 << 20 // a signed command is at most 16 KiB; checkpoints are small
	rpcIOTimeout     = 10 * time.Second
)

// RPC operations.
const (
	opPropose    = "propose"    // follower → leader: apply this signed command
	opReadIndex  = "read_index" // follower → leader: confirm leadership, return the commit index
	opJoin       = "join"       // new node → leader: add me as a nonvoter
	opPromote    = "promote"    // caught-up nonvoter → leader: make me a voter if there is room
	opCheckpoint = "checkpoint" // any → any: a signed checkpoint
	opSnapshot   = "snapshot"   // any → any: send your newest Raft snapshot reaching Applied (then its bytes follow)
	opTransfer   = "transfer"   // any → leader: hand leadership to the most caught-up voter
)

// RPC error codes: the three outcomes a caller must keep apart
// (CONTRIBUTING.md, "Three outcomes of a write").
const (
	errCodeNotLeader = "not_leader" // definite: nothing written here; retry at the leader
	errCodeUnknown   = "unknown"    // outcome unknown (leadership lost, timeout): retry with the same id
	errCodeRefused   = "refused"    // definite refusal (e.g. join of an unregistered node)
)

type rpcRequest struct {
	Op         string               `json:"op"`
	Signed     []byte               `json:"signed,omitempty"`
	NodeID     string               `json:"node_id,omitempty"`
	Applied    uint64               `json:"applied,omitempty"`
	Checkpoint *CheckpointSignature `json:"checkpoint,omitempty"`
}

type rpcResponse struct {
	Result    *ledger.Result `json:"result,omitempty"`
	ReadIndex uint64         `json:"read_index,omitempty"`
	Snapshot  *snapshotOffer `json:"snapshot,omitempty"`
	LeaderID  string         `json:"leader_id,omitempty"` // opTransfer: the new leader
	ErrCode   string         `json:"err_code,omitempty"`
	Err       string         `json:"err,omitempty"`
}

// rpcError is an error returned by the remote side.
type rpcError struct {
	code, msg string
}

func (e *rpcError) Error() string { return fmt.Sprintf("peer: %s: %s", e.code, e.msg) }

// writeFrame writes v (rpc_codec.go) after its length, in one write.
func writeFrame(w io.Writer, v any) error {
	b, err := encodeRPC(v)
	if err != nil {
		return err
	}
	if len(b) > rpcFrameBytesMax {
		return fmt.Errorf("consensus: rpc frame of %d bytes; at most %d", len(b), rpcFrameBytesMax)
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(frame, b...))
	return err
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > rpcFrameBytesMax {
		return fmt.Errorf("consensus: rpc frame of %d bytes; at most %d", n, rpcFrameBytesMax)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return decodeRPC(b, v)
}

// call sends one request on a fresh stream and reads the response.
func call(conn net.Conn, deadline time.Time, req *rpcRequest) (*rpcResponse, error) {
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if err := writeFrame(conn, req); err != nil {
		return nil, fmt.Errorf("consensus: rpc write: %w", err)
	}
	var resp rpcResponse
	if err := readFrame(conn, &resp); err != nil {
		return nil, fmt.Errorf("consensus: rpc read: %w", err)
	}
	if resp.ErrCode != "" {
		return &resp, &rpcError{resp.ErrCode, resp.Err}
	}
	return &resp, nil
}

func isNotLeader(err error) bool {
	var re *rpcError
	return errors.As(err, &re) && re.code == errCodeNotLeader
}
