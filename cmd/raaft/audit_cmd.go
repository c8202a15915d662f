package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/raaft/raaft/protocol"
	"github.com/spf13/cobra"
)

// ledgerAPICmds are the ledger reads through a node's API (head, entry,
// RFC 6962 proofs), beside the offline `ledger verify`. Each has its own
// API flags: verify's --output takes only table or json.
func ledgerAPICmds() []*cobra.Command {
	return []*cobra.Command{newHeadCmd(), newEntryCmd(), newInclusionCmd(), newConsistencyCmd(), newCheckpointsCmd()}
}

func newCheckpointsCmd() *cobra.Command {
	f := &apiFlags{}
	var export string
	c := &cobra.Command{Use: "checkpoints [--export FILE]", Short: "The checkpoints a quorum of agencies co-signed, as this node keeps them; --export writes them to a file an auditor keeps",
		Long: `checkpoints lists the heads (size, Merkle root, state hash) that more than half of the
agencies signed, with every signature, as the node keeps them (the last 64). --export FILE
writes them as a checkpoint file (JSON, format raaft-checkpoints/1): keep it, and later
check any copy of a node's data directory against it with
raaft ledger verify --data DIR --checkpoints FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				cps, err := cl.Checkpoints(ctx)
				if err != nil {
					return apiErr(err)
				}
				if export != "" {
					raw, _ := json.MarshalIndent(cps, "", "  ")
					if err := os.WriteFile(export, append(raw, '\n'), 0o644); err != nil {
						return &exitError{exitFailure, fmt.Errorf("--export: %w", err)}
					}
				}
				var rows [][]string
				for _, cp := range cps.Checkpoints {
					rows = append(rows, []string{strconv.FormatUint(cp.Size, 10), cp.Root.String(), cp.StateHash.String(), strconv.Itoa(len(cp.Signatures))})
				}
				emit(cmd.OutOrStdout(), f, cps, []string{"SIZE", "ROOT", "STATE_HASH", "SIGNATURES"}, rows)
				return nil
			})
		}}
	f.register(c)
	c.Flags().StringVar(&export, "export", "", "also write the checkpoints to FILE (JSON) for an auditor")
	return operation(c, "listCheckpoints")
}

// parseSeq parses a sequence or tree size argument; a bad one is a usage error.
func parseSeq(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, &exitError{exitUsage, fmt.Errorf("%s %q: expected a non-negative integer", what, s)}
	}
	return n, nil
}

func newHeadCmd() *cobra.Command {
	f := &apiFlags{}
	var lin bool
	c := &cobra.Command{Use: "head", Short: "The ledger's tree head: size, Merkle root, newest entry hash, ledger clock", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				h, err := cl.Head(ctx, lin)
				if err != nil {
					return apiErr(err)
				}
				emit(cmd.OutOrStdout(), f, h, []string{"SIZE", "ROOT", "ENTRY_HASH", "STATE_HASH", "CLOCK"},
					[][]string{{strconv.FormatUint(h.Size, 10), h.Root.String(), h.EntryHash.String(), h.StateHash.String(), time.UnixMilli(h.ClockMs).UTC().Format(time.RFC3339)}})
				return nil
			})
		}}
	f.register(c)
	c.Flags().BoolVar(&lin, "linearizable", false, "read after everything committed so far (slower)")
	return operation(c, "head")
}

func newEntryCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "entry SEQ", Short: "One ledger entry and its signed bytes (a command's JWS, or the genesis document)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq("sequence", args[0])
			if err != nil {
				return err
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				e, err := cl.Entry(ctx, seq)
				if err != nil {
					return apiErr(err)
				}
				emit(cmd.OutOrStdout(), f, e, append(entryHeader, "LEAF_HASH"), [][]string{append(entryRow(e.HistoryEntry), e.LeafHash.String())})
				if f.output == "table" {
					fmt.Fprintf(cmd.OutOrStdout(), "signed: %s\n", e.Signed)
				}
				return nil
			})
		}}
	f.register(c)
	return operation(c, "getEntry")
}

func newInclusionCmd() *cobra.Command {
	f := &apiFlags{}
	var size uint64
	c := &cobra.Command{Use: "inclusion SEQ", Short: "Prove entry SEQ is in the ledger (RFC 6962 inclusion proof), checked here", Args: cobra.ExactArgs(1),
		Long: `inclusion fetches an RFC 6962 inclusion proof for entry SEQ in the tree of --size entries
(default: the current size) and checks it here: the path must lead from the entry's leaf
hash to the root. Compare the root with a checkpoint the agencies co-signed. Exits 1 if
the proof does not check.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq("sequence", args[0])
			if err != nil {
				return err
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				p, err := cl.Inclusion(ctx, seq, size)
				if err != nil {
					return apiErr(err)
				}
				verr := p.Verify()
				emit(cmd.OutOrStdout(), f, p, []string{"SEQ", "SIZE", "LEAF_HASH", "ROOT", "PATH_HASHES", "VERIFIED"},
					[][]string{{strconv.FormatUint(p.Seq, 10), strconv.FormatUint(p.Size, 10), p.LeafHash.String(), p.Root.String(), strconv.Itoa(len(p.Path)), strconv.FormatBool(verr == nil)}})
				return proofErr(verr)
			})
		}}
	f.register(c)
	c.Flags().Uint64Var(&size, "size", 0, "tree size to prove against (0: the current size)")
	return operation(c, "inclusionProof")
}

func newConsistencyCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "consistency SIZE1 [SIZE2]", Short: "Prove the tree of SIZE1 entries is a prefix of the tree of SIZE2 (RFC 6962), checked here",
		Long: `consistency fetches an RFC 6962 consistency proof between the tree of SIZE1 entries and
the tree of SIZE2 (default: the current size) and checks it here, so an auditor who
kept an older root can tell that nothing before it was rewritten. Exits 1 if the proof
does not check.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s1, err := parseSeq("SIZE1", args[0])
			if err != nil {
				return err
			}
			var s2 uint64
			if len(args) == 2 {
				if s2, err = parseSeq("SIZE2", args[1]); err != nil {
					return err
				}
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				p, err := cl.Consistency(ctx, s1, s2)
				if err != nil {
					return apiErr(err)
				}
				verr := p.Verify()
				emit(cmd.OutOrStdout(), f, p, []string{"SIZE1", "ROOT1", "SIZE2", "ROOT2", "PATH_HASHES", "VERIFIED"},
					[][]string{{strconv.FormatUint(p.Size1, 10), p.Root1.String(), strconv.FormatUint(p.Size2, 10), p.Root2.String(), strconv.Itoa(len(p.Path)), strconv.FormatBool(verr == nil)}})
				return proofErr(verr)
			})
		}}
	f.register(c)
	return operation(c, "consistencyProof")
}

// proofErr is a proof that does not check: the command ran and found a
// problem (exit 1), which is neither a refusal nor a usage error.
func proofErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{exitFailure, fmt.Errorf("proof does NOT verify: %w", err)}
}

func newAgenciesCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "agencies", Short: "The federation's registry: every agency, its kind, status, keys and nodes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				ags, err := cl.Agencies(ctx)
				if err != nil {
					return apiErr(err)
				}
				var rows [][]string
				for _, a := range ags {
					rows = append(rows, []string{a.ID, a.Name, string(a.Kind), a.Nation, strconv.FormatBool(a.London), a.Status, strconv.Itoa(len(a.Keys)), strconv.Itoa(len(a.Nodes))})
				}
				emit(cmd.OutOrStdout(), f, ags, []string{"ID", "NAME", "KIND", "NATION", "LONDON", "STATUS", "KEYS", "NODES"}, rows)
				return nil
			})
		}}
	f.register(c)
	return operation(c, "listAgencies")
}

func newPolicyCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "policy", Short: "The federation's policy: hold lengths, extensions and limits", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				p, err := cl.Policy(ctx)
				if err != nil {
					return apiErr(err)
				}
				emit(cmd.OutOrStdout(), f, p, []string{"HOLD_DAYS_DEFAULT", "HOLD_DAYS_MAX", "EXTENSION_DAYS", "EXTENSIONS_MAX", "HOLDS_PER_CHILD_MAX", "PROPOSAL_DAYS"},
					[][]string{{strconv.Itoa(p.HoldDaysDefault), strconv.Itoa(p.HoldDaysMax), strconv.Itoa(p.ExtensionDays), strconv.Itoa(p.ExtensionsMax),
						strconv.Itoa(p.HoldsPerChildMax), strconv.Itoa(p.ProposalDays)}})
				return nil
			})
		}}
	f.register(c)
	return operation(c, "getPolicy")
}
