package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/spf13/cobra"
)

func newLedgerCmd() *cobra.Command {
	c := &cobra.Command{Use: "ledger", Short: "Inspect and verify a node's ledger: offline (verify) or through its API (head, entry, proofs)"}
	c.AddCommand(newVerifyCmd())
	c.AddCommand(ledgerAPICmds()...)
	return c
}

func newVerifyCmd() *cobra.Command {
	var dataDir, output string
	c := &cobra.Command{
		Use:   "verify --data DIR",
		Short: "Re-verify every signature, the hash chain and the Merkle root, and replay the whole ledger",
		Long: `verify re-checks a node's ledger from scratch: the hash chain entry by entry, the
RFC 6962 Merkle root rebuilt from the records, and a full replay of every entry (each
signature verified again against the registry at its position, each rule applied again)
into a fresh store, whose state hash must equal the stored one. Stop the node first: the
ledger file is locked while the node runs. Exits 1 naming the first bad sequence.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return &exitError{exitUsage, errors.New("--data DIR is required")}
			}
			path := filepath.Join(dataDir, "ledger.db")
			if _, err := os.Stat(path); err != nil {
				return &exitError{exitUsage, fmt.Errorf("no ledger at %s: %w", path, err)}
			}
			l, err := ledger.Open(path, ledger.Options{})
			if errors.Is(err, ledger.ErrUnsynced) {
				return &exitError{exitFailure, fmt.Errorf("%s was written without fsync and the machine has restarted since, so it may be torn: start the node, which rebuilds it from the federation, then verify again (%w)", path, err)}
			}
			if err != nil {
				return &exitError{exitFailure, fmt.Errorf("open %s (is the node still running?): %w", path, err)}
			}
			defer l.Close()
			start := time.Now()
			rep, err := l.Verify(dataDir)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			elapsed := time.Since(start)
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.Encode(rep)
			} else {
				fmt.Fprintf(out, "entries:    %d\nsignatures: %d verified\nroot:       %s\nstate hash: %s\ntime:       %s (%.0f entries/s)\n",
					rep.Entries, rep.Signatures, rep.Root, rep.StateHash, elapsed.Round(time.Millisecond), float64(rep.Entries)/elapsed.Seconds())
			}
			if rep.FirstBadSeq != nil {
				return &exitError{exitFailure, fmt.Errorf("verification FAILED at sequence %d: %s", *rep.FirstBadSeq, rep.Problem)}
			}
			if output != "json" {
				fmt.Fprintln(out, "ledger verified: OK")
			}
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "", "the node's data directory (holds ledger.db)")
	c.Flags().StringVar(&output, "output", "table", "table or json")
	return c
}
