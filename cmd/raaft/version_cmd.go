package main

import (
	"encoding/json"
	"fmt"

	"github.com/raaft/raaft/node"
	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	var output string
	c := &cobra.Command{Use: "version", Short: "Print which build of raaft this is (version, VCS revision and time, Go version)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := node.BuildInfo()
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			case "table", "":
				mod := ""
				if b.Modified {
					mod = " (with uncommitted changes)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "raaft %s\nrevision %s%s\nbuilt %s\n%s\n", b.Version, b.Revision, mod, b.Time, b.GoVersion)
				return nil
			}
			return &exitError{exitUsage, fmt.Errorf("--output %q: expected table or json", output)}
		}}
	c.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return c
}
