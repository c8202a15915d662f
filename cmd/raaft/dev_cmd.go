package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/node"
	"github.com/spf13/cobra"
)

// Limits of the development federation.
const (
	devAgenciesMax  = 7
	devReadyTimeout = 60 * time.Second
	// devExitPollInterval is how often dev up looks for a node that exited.
	devExitPollInterval = 200 * time.Millisecond
	devStopTimeout      = 20 * time.Second
	devRaftPortBase     = 7400
	devAPIPortBase      = 8440
	devListingsEach     = 8
	devTokenLifetime    = 12 * time.Hour
)

// devAgency is one fictional agency of the development federation.
type devAgency struct {
	id, name, kind string
	london         bool
}

// The demo agencies are fictional; the demo data carries no personal data.
var devAgencies = []devAgency{
	{"north-raa", "Northern Counties Adoption (demo)", "RAA", false},
	{"capital-raa", "Capital Adopt (demo)", "RAA", true},
	{"hope-vaa", "Hope Families (demo)", "VAA", false},
	{"west-raa", "Western Shires Adoption (demo)", "RAA", false},
	{"coast-raa", "Coast and Vale Adoption (demo)", "RAA", false},
	{"midlands-la", "Midlands Borough Council (demo)", "LA", false},
	{"bridge-vaa", "Bridge Adoption (demo)", "VAA", false},
}

func newDevCmd() *cobra.Command {
	c := &cobra.Command{Use: "dev", Short: "A local development federation on 127.0.0.1"}
	var n, base int
	var dir string
	up := &cobra.Command{
		Use:   "up [--agencies 3] [--dir DIR]",
		Short: "Start a local federation: one node process per agency, genesis signed, demo listings published",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 || n > devAgenciesMax {
				return &exitError{exitUsage, fmt.Errorf("--agencies %d: expected 1..%d", n, devAgenciesMax)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return devUp(ctx, cmd.OutOrStdout(), dir, n, base)
		},
	}
	up.Flags().IntVar(&n, "agencies", 3, "number of agencies (one node each)")
	up.Flags().StringVar(&dir, "dir", ".raaft-dev", "directory for keys, configs, data and logs (reused if it exists)")
	up.Flags().IntVar(&base, "port-offset", 0, "added to the default ports (QUIC 7401+, API 8441+)")
	c.AddCommand(up)
	return c
}

// devNode is a running node process of the development federation.
type devNode struct {
	ag      devAgency
	dir     string
	apiAddr string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited (exitErr set)
	exitErr error
}

func devUp(ctx context.Context, out io.Writer, dir string, n, offset int) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	fresh, err := devPrepare(dir, n, offset)
	if err != nil {
		return &exitError{exitFailure, err}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var nodes []*devNode
	for i := range n {
		nd := &devNode{ag: devAgencies[i], dir: filepath.Join(dir, devAgencies[i].id), apiAddr: devAddr(devAPIPortBase, offset, i)}
		if err := nd.start(self); err != nil {
			devStop(nodes)
			return &exitError{exitFailure, err}
		}
		nodes = append(nodes, nd)
	}
	defer devStop(nodes)
	fmt.Fprintf(out, "raaft dev: starting %d agency nodes in %s ...\n", n, dir)
	if err := devWaitReady(ctx, dir, nodes); err != nil {
		return &exitError{exitFailure, err}
	}
	// fresh tokens for every role of every agency, on every start (they last devTokenLifetime)
	tokens := make([]map[string]string, len(nodes))
	for i, nd := range nodes {
		if tokens[i], err = devTokens(nd); err != nil {
			return &exitError{exitFailure, err}
		}
	}
	if fresh {
		if err := devSeed(ctx, dir, nodes, tokens); err != nil {
			return &exitError{exitFailure, fmt.Errorf("publishing demo listings: %w", err)}
		}
	}
	if err := devPrintGuide(out, dir, nodes); err != nil {
		return err
	}
	tick := time.NewTicker(devExitPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nraaft dev: stopping every node ...")
			return nil
		case <-tick.C:
			for _, nd := range nodes {
				if err := nd.exited(); err != nil {
					return &exitError{exitFailure, err}
				}
			}
		}
	}
}

func devAddr(base, offset, i int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+offset+i+1))
}

// devPrepare creates keys, certificates, configs and the signed genesis,
// unless dir already holds a federation of the same size. It reports
// whether the federation is new (and so needs demo data).
func devPrepare(dir string, n, offset int) (bool, error) {
	genesisPath := filepath.Join(dir, "genesis.json")
	if doc, err := os.ReadFile(genesisPath); err == nil {
		g, err := ledger.VerifyGenesis(doc)
		if err != nil {
			return false, fmt.Errorf("%s: %w (remove %s to start afresh)", genesisPath, err, dir)
		}
		if len(g.Agencies) != n {
			return false, fmt.Errorf("%s holds a federation of %d agencies, not %d (remove it to start afresh)", dir, len(g.Agencies), n)
		}
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	ca, err := node.NewCA("raaft dev CA")
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.PEM, 0o644); err != nil {
		return false, err
	}
	g := ledger.Genesis{V: ledger.GenesisVersion, Federation: "raaft-dev", TimeMs: time.Now().UnixMilli(), Policy: ledger.DefaultPolicy()}
	for i := range n {
		a := devAgencies[i]
		rec, err := initAgency(initOpts{
			Dir: filepath.Join(dir, a.id), Agency: a.id, URN: fmt.Sprintf("SC90000%d", i+1), Name: a.name, Kind: a.kind,
			Nation: "england", London: a.london, RaftAddr: devAddr(devRaftPortBase, offset, i), APIAddr: devAddr(devAPIPortBase, offset, i),
			Genesis: "../genesis.json", Fast: true, DevIssuer: true,
		}, ca)
		if err != nil {
			return false, err
		}
		g.Agencies = append(g.Agencies, *rec)
	}
	doc, err := ledger.NewGenesisDocument(g)
	if err != nil {
		return false, err
	}
	for i := range n {
		key, err := node.ReadKeyFile(filepath.Join(dir, devAgencies[i].id, "agency.key"))
		if err != nil {
			return false, err
		}
		s, err := ledger.NewSigner(devAgencies[i].id, key)
		if err != nil {
			return false, err
		}
		if doc, err = ledger.CosignGenesis(doc, s); err != nil {
			return false, err
		}
	}
	return true, os.WriteFile(genesisPath, doc, 0o644)
}

func (nd *devNode) start(self string) error {
	logf, err := os.OpenFile(filepath.Join(nd.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	nd.cmd = exec.Command(self, "node", "run", "--config", filepath.Join(nd.dir, "node.yaml"))
	nd.cmd.Dir = nd.dir
	nd.cmd.Stdout, nd.cmd.Stderr = logf, logf
	nd.cmd.Env = append(os.Environ(), "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true")
	nd.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // children never outlive dev up
	if err := nd.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start node %s: %w", nd.ag.id, err)
	}
	done := make(chan struct{})
	nd.done = done
	go func(cmd *exec.Cmd) {
		err := cmd.Wait()
		nd.exitErr = err // read only after done is closed
		close(done)
	}(nd.cmd)
	return logf.Close()
}

// exited returns, if the node's process has exited, why: its exit status
// and the last line it logged.
func (nd *devNode) exited() error {
	select {
	case <-nd.done:
	default:
		return nil
	}
	path := filepath.Join(nd.dir, "node.log")
	last := ""
	if b, err := os.ReadFile(path); err == nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		last = lines[len(lines)-1]
	}
	return fmt.Errorf("node %s exited (%v): %s (see %s)", nd.ag.id, nd.exitErr, last, path)
}

// devStop sends SIGTERM to every node and waits, bounded, then kills.
func devStop(nodes []*devNode) {
	for _, nd := range nodes {
		if nd.cmd != nil && nd.cmd.Process != nil {
			_ = nd.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(devStopTimeout)
	for _, nd := range nodes {
		if nd.cmd == nil || nd.cmd.Process == nil {
			continue
		}
		select {
		case <-nd.done:
		case <-time.After(time.Until(deadline)):
			_ = nd.cmd.Process.Kill()
			<-nd.done
		}
	}
}
