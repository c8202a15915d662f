package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
	"github.com/spf13/cobra"
)

func newLedgerCmd() *cobra.Command {
	c := &cobra.Command{Use: "ledger", Short: "Inspect and verify a node's ledger: offline (verify) or through its API (head, entry, proofs)"}
	c.AddCommand(newVerifyCmd())
	c.AddCommand(ledgerAPICmds()...)
	return c
}

func newVerifyCmd() *cobra.Command {
	var dataDir, output, scratch, cpFile string
	c := &cobra.Command{
		Use:   "verify --data DIR",
		Short: "Re-verify every signature, the hash chain and the Merkle root, and replay the whole ledger",
		Long: `verify re-checks a stopped node's ledger from scratch, without writing to it: ledger.db
is opened read-only after its bbolt structure is checked page by page (an empty, truncated,
zero-filled or damaged file is reported, never a crash); then the hash chain entry by entry,
the RFC 6962 Merkle root rebuilt from the records, every signature verified again with Go's
crypto/ed25519, and a full replay of every entry (each signature verified again against the
registry at its position, each rule applied again) into a scratch ledger whose entries and
state must equal the stored ones. The applied index is checked against the Raft log in
DIR/raft/raft.db when there is one. With --checkpoints FILE (from raaft ledger checkpoints
--export), the ledger must also hold every checkpoint in the file: same genesis, the same root
and state hash at its size, and signatures of more than half of the active agencies, each
checked with crypto/ed25519. Exits 0 if verified, 1 naming what is wrong and where
(the first bad sequence, bucket and key), 2 for usage errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkVerifyArgs(dataDir, output); err != nil {
				return &exitError{exitUsage, err}
			}
			var cps *protocol.CheckpointList
			if cpFile != "" {
				var err error
				if cps, err = readCheckpointFile(cpFile); err != nil {
					return &exitError{exitUsage, err}
				}
			}
			if scratch == "" {
				scratch = dataDir
			}
			start := time.Now()
			rep, err := verifyDataDir(dataDir, scratch)
			if err == nil && rep.OK() && cps != nil {
				err = verifyCheckpoints(filepath.Join(dataDir, "ledger.db"), cps, &rep)
			}
			if err != nil {
				return &exitError{exitFailure, err}
			}
			printVerifyReport(cmd.OutOrStdout(), output, &rep, time.Since(start))
			if !rep.OK() {
				return &exitError{exitFailure, verifyFailure(&rep)}
			}
			if output != "json" {
				fmt.Fprintln(cmd.OutOrStdout(), "ledger verified: OK")
			}
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "", "the node's data directory (holds ledger.db and raft/)")
	c.Flags().StringVar(&output, "output", "table", "table or json")
	c.Flags().StringVar(&scratch, "scratch", "", "directory for the replay's temporary ledger (default: the data directory)")
	c.Flags().StringVar(&cpFile, "checkpoints", "", "a checkpoint file (raaft ledger checkpoints --export) the ledger must hold")
	return c
}

// readCheckpointFile reads an auditor's checkpoint file; one that is not
// such a file is a usage error.
func readCheckpointFile(path string) (*protocol.CheckpointList, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--checkpoints: %w", err)
	}
	var cps protocol.CheckpointList
	if err := json.Unmarshal(raw, &cps); err != nil || cps.Format != protocol.CheckpointListFormat {
		return nil, fmt.Errorf("--checkpoints %s: not a checkpoint file (format %q, want %q; %v)", path, cps.Format, protocol.CheckpointListFormat, err)
	}
	if len(cps.Checkpoints) == 0 {
		return nil, fmt.Errorf("--checkpoints %s: the file holds no checkpoint", path)
	}
	return &cps, nil
}

// verifyCheckpoints checks a verified ledger against every checkpoint in
// an auditor's file; the first that does not hold is the report's problem.
func verifyCheckpoints(path string, cps *protocol.CheckpointList, rep *ledger.VerifyReport) error {
	l, err := ledger.OpenReadOnly(path)
	if err != nil {
		return err
	}
	defer l.Close()
	for i := range cps.Checkpoints {
		cp := &cps.Checkpoints[i]
		if err := l.CheckCheckpoint(cp.Claim(cps.Genesis)); err != nil {
			rep.Problem = err.Error()
			if cp.Size > 0 {
				seq := cp.Size - 1
				rep.FirstBadSeq = &seq
			}
			return nil
		}
		rep.CheckpointsVerified++
	}
	return nil
}

// checkVerifyArgs refuses what is a usage error: no --data, a --data
// that is not a directory, an unknown --output.
func checkVerifyArgs(dataDir, output string) error {
	if dataDir == "" {
		return errors.New("--data DIR is required")
	}
	if output != "table" && output != "json" {
		return fmt.Errorf("--output %q: expected table or json", output)
	}
	st, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("--data %s: %w", dataDir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--data %s: not a directory", dataDir)
	}
	return nil
}

// verifyDataDir verifies DIR/ledger.db, and its applied index against
// DIR/raft/raft.db where that exists. err is for what stops verification
// before it can look at the file (absent, locked, unsynced).
func verifyDataDir(dataDir, scratch string) (ledger.VerifyReport, error) {
	var rep ledger.VerifyReport
	path := filepath.Join(dataDir, "ledger.db")
	if _, err := os.Stat(path); err != nil {
		return rep, fmt.Errorf("no ledger to verify: %w", err)
	}
	if err := ledger.CheckSyncMark(path); err != nil {
		return rep, fmt.Errorf("%s was written without fsync and the machine has restarted since, so it may be torn: start the node, which rebuilds it from the federation, then verify again (%w)", path, err)
	}
	raftDir := filepath.Join(dataDir, "raft")
	rl, err := consensus.OpenRaftLogReadOnly(raftDir)
	notChecked := ""
	switch {
	case errors.Is(err, os.ErrNotExist):
		notChecked = fmt.Sprintf("not checked: %s does not exist", filepath.Join(raftDir, "raft.db"))
	case errors.Is(err, ledger.ErrDamaged):
		rep.Problem = fmt.Sprintf("raft.db is damaged, so the applied index cannot be checked: %v", err)
		return rep, nil
	case err != nil:
		return rep, err
	default:
		defer rl.Close()
	}
	opts := ledger.VerifyOptions{ScratchDir: scratch}
	if rl != nil {
		opts.RaftLog = rl
	}
	rep, err = ledger.VerifyFile(path, opts)
	if rep.RaftLog == "" {
		rep.RaftLog = notChecked
	}
	return rep, err
}

func printVerifyReport(out io.Writer, output string, rep *ledger.VerifyReport, elapsed time.Duration) {
	if output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return
	}
	raftLast := "-"
	if rep.RaftLastIndex != nil {
		raftLast = fmt.Sprint(*rep.RaftLastIndex)
	}
	fmt.Fprintf(out, "entries:       %d\nsignatures:    %d verified by the replay, %d again with crypto/ed25519\nroot:          %s\nstate hash:    %s\n",
		rep.Entries, rep.Signatures, rep.SignaturesStdlib, rep.Root, rep.StateHash)
	fmt.Fprintf(out, "bbolt pages:   %d checked\napplied index: %d (raft log: %s; last index %s)\n",
		rep.PagesChecked, rep.AppliedIndex, rep.RaftLog, raftLast)
	if rep.CheckpointsVerified > 0 {
		fmt.Fprintf(out, "checkpoints:   %d held, each co-signed by a quorum\n", rep.CheckpointsVerified)
	}
	fmt.Fprintf(out, "time:          %s (%.0f entries/s)\n", elapsed.Round(time.Millisecond), float64(rep.Entries)/elapsed.Seconds())
	if rep.OK() {
		return
	}
	fmt.Fprintf(out, "problem:       %s\n", rep.Problem)
	if rep.FirstBadSeq != nil {
		fmt.Fprintf(out, "sequence:      %d\n", *rep.FirstBadSeq)
	}
	if rep.Bucket != "" {
		fmt.Fprintf(out, "bucket:        %s\nkey:           %s\nexpected:      %s\nfound:         %s\n", rep.Bucket, rep.Key, rep.Expected, rep.Found)
	}
}

// verifyFailure is the error a failed verification exits with: where first, then what.
func verifyFailure(rep *ledger.VerifyReport) error {
	where := ""
	if rep.FirstBadSeq != nil {
		where = fmt.Sprintf(" at sequence %d", *rep.FirstBadSeq)
	}
	if rep.Bucket != "" {
		where += fmt.Sprintf(" (bucket %s, key %s)", rep.Bucket, rep.Key)
	}
	return fmt.Errorf("verification FAILED%s: %s", where, rep.Problem)
}
