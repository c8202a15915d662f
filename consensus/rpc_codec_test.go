package consensus

import (
	"reflect"
	"testing"

	"github.com/raaft/raaft/ledger"
)

func TestRPCCodecRoundTrip(t *testing.T) {
	h1, h2 := ledger.Hash{1, 2, 3}, ledger.Hash{9: 9}
	reqs := []rpcRequest{
		{Op: opPropose, Signed: []byte("eyJhbGciOi.payload.sig")},
		{Op: opJoin, NodeID: "a1-node"},
		{Op: opReadIndex},
		{Op: opCheckpoint, Checkpoint: &CheckpointSignature{Agency: "a1", Size: 7}},
	}
	for _, r := range reqs {
		b, err := encodeRPC(&r)
		if err != nil {
			t.Fatal(err)
		}
		var got rpcRequest
		if err := decodeRPC(b, &got); err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("request %+v: got %+v (%v)", r, got, err)
		}
		if binaryForm := b[0] == tagProposeRequest; binaryForm != (r.Op == opPropose) {
			t.Fatalf("request %s: binary form %v", r.Op, binaryForm)
		}
	}
	resps := []rpcResponse{
		{},
		{Result: &ledger.Result{Accepted: true, Seq: 1 << 40, EntryHash: &h1, Root: &h2, TreeSize: 1<<40 + 1}},
		{Result: &ledger.Result{Accepted: true, Duplicate: true, Seq: 3, EntryHash: &h1, Root: &h2, TreeSize: 4}},
		{Result: &ledger.Result{Rejection: &ledger.Rejection{Code: ledger.CodeConflict, Message: "held until …", HoldExpiresMs: -1}}},
		{Result: &ledger.Result{Skipped: true}},
		{ErrCode: errCodeNotLeader, Err: "not the leader"},
		{ReadIndex: 42},
	}
	for _, r := range resps {
		b, err := encodeRPC(&r)
		if err != nil {
			t.Fatal(err)
		}
		var got rpcResponse
		if err := decodeRPC(b, &got); err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("response %+v: got %+v (%v)", r, got, err)
		}
	}
	// truncations of a binary response are refused, not misread
	b, _ := encodeRPC(&resps[3])
	for n := 1; n < len(b); n++ {
		var got rpcResponse
		if decodeRPC(b[:n], &got) == nil {
			t.Fatalf("a response cut to %d of %d bytes decoded: %+v", n, len(b), got)
		}
	}
}

// FuzzDecodeRPC: no frame body makes the decoders panic, and a response
// that decodes encodes to one that decodes the same.
func FuzzDecodeRPC(f *testing.F) {
	h := ledger.Hash{5}
	for _, r := range []rpcResponse{{}, {Result: &ledger.Result{Accepted: true, Seq: 3, EntryHash: &h, Root: &h, TreeSize: 4}}, {ErrCode: "unknown", Err: "x"}} {
		b, _ := encodeRPC(&r)
		f.Add(b)
	}
	f.Add([]byte{tagProposeRequest, 'x'})
	f.Add([]byte(`{"op":"join","node_id":"n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req rpcRequest
		_ = decodeRPC(b, &req)
		var resp rpcResponse
		if decodeRPC(b, &resp) == nil && len(b) > 0 && b[0] == tagResponse {
			var again rpcResponse
			if err := decodeRPC(encodeResponse(&resp), &again); err != nil || !reflect.DeepEqual(again, resp) {
				t.Fatalf("%x decoded as %+v, re-encoded and decoded as %+v (%v)", b, resp, again, err)
			}
		}
	})
}
