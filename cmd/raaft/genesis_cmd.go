package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/node"
	"github.com/spf13/cobra"
)

func newGenesisCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "genesis",
		Short: "Build a federation's genesis and collect every founder's signature",
		Long: `A genesis names the founding agencies, their keys and nodes, and the first policy. It is
valid only when every founder has signed it, and each signature is checked on its own.

  raaft genesis new --federation NAME --out genesis.json agency1.json agency2.json ...
  raaft genesis sign --in genesis.json --key agency.key --agency ID     (each founder, in turn)
  raaft genesis verify --in genesis.json`,
	}
	c.AddCommand(newGenesisNewCmd(), newGenesisSignCmd(), newGenesisVerifyCmd())
	return c
}

func newGenesisNewCmd() *cobra.Command {
	var fed, out string
	c := &cobra.Command{
		Use:   "new --federation NAME --out FILE AGENCY.json...",
		Short: "Write an unsigned genesis from agency records (from raaft init)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g := ledger.Genesis{V: ledger.GenesisVersion, Federation: fed, TimeMs: time.Now().UnixMilli(), Policy: ledger.DefaultPolicy()}
			for _, p := range args {
				b, err := os.ReadFile(p)
				if err != nil {
					return &exitError{exitUsage, err}
				}
				var rec ledger.AgencyRecord
				if err := json.Unmarshal(b, &rec); err != nil {
					return &exitError{exitUsage, fmt.Errorf("%s: %w", p, err)}
				}
				g.Agencies = append(g.Agencies, rec)
			}
			doc, err := ledger.NewGenesisDocument(g)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			if err := os.WriteFile(out, doc, 0o644); err != nil {
				return &exitError{exitFailure, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s with %d founders; each founder now runs: raaft genesis sign --in %s --key agency.key --agency ID\n", out, len(g.Agencies), out)
			return nil
		},
	}
	c.Flags().StringVar(&fed, "federation", "", "federation name (slug)")
	c.Flags().StringVar(&out, "out", "genesis.json", "output file")
	return c
}

func newGenesisSignCmd() *cobra.Command {
	var in, keyPath, agency string
	c := &cobra.Command{
		Use:   "sign --in FILE --key agency.key --agency ID",
		Short: "Add one founder's signature to a genesis",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := os.ReadFile(in)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			key, err := node.ReadKeyFile(keyPath)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			s, err := ledger.NewSigner(agency, key)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			signed, err := ledger.CosignGenesis(doc, s)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			if err := os.WriteFile(in, signed, 0o644); err != nil {
				return &exitError{exitFailure, err}
			}
			_, verr := ledger.VerifyGenesis(signed)
			state := "complete: every founder has signed"
			if verr != nil {
				state = "still incomplete: " + verr.Error()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s as %s; %s\n", in, agency, state)
			return nil
		},
	}
	c.Flags().StringVar(&in, "in", "genesis.json", "genesis file (rewritten with the signature added)")
	c.Flags().StringVar(&keyPath, "key", "agency.key", "the founder's agency key")
	c.Flags().StringVar(&agency, "agency", "", "the founder's agency id")
	return c
}

func newGenesisVerifyCmd() *cobra.Command {
	var in string
	c := &cobra.Command{
		Use:   "verify --in FILE",
		Short: "Check that every founder signed the genesis, signature by signature",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := os.ReadFile(in)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			g, err := ledger.VerifyGenesis(doc)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			var ids []string
			for _, a := range g.Agencies {
				ids = append(ids, a.ID)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "genesis of %q valid: signed by all %d founders %v\n", g.Federation, len(ids), ids)
			return nil
		},
	}
	c.Flags().StringVar(&in, "in", "genesis.json", "genesis file")
	return c
}
