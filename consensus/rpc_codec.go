package consensus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/raaft/raaft/ledger"
)

// RPC bodies. A forwarded write is two thirds of the cluster's writes, and
// JSON cost both ends more than the write's own bytes: the signed command
// went as base64 in a JSON string, the result's hashes as hex. So a
// propose request and every response without a read index travel in a
// small binary form; the rest (joins, checkpoints, read indexes, snapshot
// offers, leadership transfers) stay
// JSON. The first byte tells them apart: '{' starts JSON, and the binary
// forms start with their tag.
const (
	tagProposeRequest = 0x01 // then the signed command, to the end
	tagResponse       = 0x02 // then a flags byte and the fields it names
)

// Flags of a binary response.
const (
	respHasResult = 1 << iota
	respHasErr
	resAccepted
	resDuplicate
	resSkipped
	resHasRejection
	resHasHashes
)

func encodeRPC(v any) ([]byte, error) {
	switch m := v.(type) {
	case *rpcRequest:
		if m.Op == opPropose && m.NodeID == "" && m.Applied == 0 && m.Checkpoint == nil {
			return append([]byte{tagProposeRequest}, m.Signed...), nil
		}
	case *rpcResponse:
		if m.ReadIndex == 0 && m.Snapshot == nil && m.LeaderID == "" {
			return encodeResponse(m), nil
		}
	}
	return json.Marshal(v)
}

func decodeRPC(b []byte, v any) error {
	if len(b) == 0 || b[0] == '{' {
		return json.Unmarshal(b, v)
	}
	switch m := v.(type) {
	case *rpcRequest:
		if b[0] == tagProposeRequest {
			*m = rpcRequest{Op: opPropose, Signed: append([]byte(nil), b[1:]...)}
			return nil
		}
	case *rpcResponse:
		if b[0] == tagResponse {
			return decodeResponse(b[1:], m)
		}
	}
	return fmt.Errorf("consensus: rpc body with tag %#x", b[0])
}

func encodeResponse(m *rpcResponse) []byte {
	var flags byte
	b := []byte{tagResponse, 0}
	if r := m.Result; r != nil {
		flags |= respHasResult
		for _, f := range []struct {
			on  bool
			bit byte
		}{{r.Accepted, resAccepted}, {r.Duplicate, resDuplicate}, {r.Skipped, resSkipped}, {r.Rejection != nil, resHasRejection}} {
			if f.on {
				flags |= f.bit
			}
		}
		b = binary.AppendUvarint(b, r.Seq)
		b = binary.AppendUvarint(b, r.TreeSize)
		if r.EntryHash != nil && r.Root != nil {
			flags |= resHasHashes
			b = append(b, r.EntryHash[:]...)
			b = append(b, r.Root[:]...)
		}
		if rj := r.Rejection; rj != nil {
			b = appendString(b, string(rj.Code))
			b = appendString(b, rj.Message)
			b = binary.AppendVarint(b, rj.HoldExpiresMs)
		}
	}
	if m.ErrCode != "" || m.Err != "" {
		flags |= respHasErr
		b = appendString(b, m.ErrCode)
		b = appendString(b, m.Err)
	}
	b[1] = flags
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadResponse = errors.New("consensus: malformed binary rpc response")

func decodeResponse(b []byte, m *rpcResponse) error {
	*m = rpcResponse{}
	if len(b) == 0 {
		return errBadResponse
	}
	flags, b := b[0], b[1:]
	const resultBits = resAccepted | resDuplicate | resSkipped | resHasRejection | resHasHashes
	if flags&^(respHasResult|respHasErr|resultBits) != 0 || (flags&respHasResult == 0 && flags&resultBits != 0) {
		return errBadResponse
	}
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	str := func() (string, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > uint64(len(b)-n) {
			return "", false
		}
		s := string(b[n : n+int(v)])
		b = b[n+int(v):]
		return s, true
	}
	if flags&respHasResult != 0 {
		r := &ledger.Result{Accepted: flags&resAccepted != 0, Duplicate: flags&resDuplicate != 0, Skipped: flags&resSkipped != 0}
		r.Seq, r.TreeSize = uv(), uv()
		if b == nil {
			return errBadResponse
		}
		if flags&resHasHashes != 0 {
			if len(b) < 64 {
				return errBadResponse
			}
			var eh, root ledger.Hash
			copy(eh[:], b[:32])
			copy(root[:], b[32:64])
			r.EntryHash, r.Root, b = &eh, &root, b[64:]
		}
		if flags&resHasRejection != 0 {
			code, ok1 := str()
			msg, ok2 := str()
			hold, n := binary.Varint(b)
			if !ok1 || !ok2 || n <= 0 {
				return errBadResponse
			}
			b = b[n:]
			r.Rejection = &ledger.Rejection{Code: ledger.Code(code), Message: msg, HoldExpiresMs: hold}
		}
		m.Result = r
	}
	if flags&respHasErr != 0 {
		var ok1, ok2 bool
		m.ErrCode, ok1 = str()
		m.Err, ok2 = str()
		if !ok1 || !ok2 {
			return errBadResponse
		}
	}
	if len(b) != 0 {
		return errBadResponse
	}
	return nil
}
