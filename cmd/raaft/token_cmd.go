package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/raaft/raaft/config"
	"github.com/raaft/raaft/node"
	"github.com/spf13/cobra"
)

func newTokenCmd() *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Tokens for trying raaft out"}
	var cfgFile, user, roles string
	var ttl time.Duration
	issue := &cobra.Command{
		Use:   "issue --config node.yaml --role ROLE --user ID",
		Short: "Issue a token from the node-local dev issuer (trusted only with auth.dev_issuer: true)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.LoadOptions{File: cfgFile, Flags: cmd.Flags()})
			if err != nil {
				return &exitError{exitUsage, err}
			}
			iss, err := node.LoadDevIssuer(cfg)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			tok, err := iss.Issue(user, strings.Split(roles, ","), ttl, time.Now())
			if err != nil {
				return &exitError{exitUsage, err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	issue.Flags().StringVar(&cfgFile, "config", "node.yaml", "the node's config")
	issue.Flags().StringVar(&user, "user", "", "user id (recorded on the ledger only as a pseudonym)")
	issue.Flags().StringVar(&roles, "role", "matching", "roles, comma-separated: matching, finance, operator, auditor")
	issue.Flags().DurationVar(&ttl, "ttl", 8*time.Hour, "lifetime (at most 24h)")
	c.AddCommand(issue)
	return c
}
