// Command raaft is the federated data-exchange node for England's adoption
// agencies: the node daemon, a local development federation, and the
// commands operators, matching officers, finance officers and auditors use.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes distinguish what went wrong, for scripts.
const (
	exitOK          = 0
	exitFailure     = 1 // the operation ran and found a problem (e.g. verification failed), or an internal error
	exitUsage       = 2 // bad flags or arguments
	exitRejected    = 3 // the ledger refused the command
	exitUnreachable = 4 // the node could not be reached
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI with args and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "raaft:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage // cobra's own errors are usage errors
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "raaft",
		Short:         "Federated adopter sharing, exclusive match reservations and interagency fees for adoption agencies",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newLedgerCmd(), newInitCmd(), newGenesisCmd(), newNodeCmd(), newDevCmd(), newTokenCmd(), newListingsCmd(), newReserveCmd(), newReservationsCmd(), newClusterCmd(), newAgenciesCmd(), newPolicyCmd(), newFeesCmd(), newGovernanceCmd(), newVersionCmd())
	return root
}
