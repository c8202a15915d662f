package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/raaft/raaft/config"
	"github.com/raaft/raaft/node"
	"github.com/spf13/cobra"
)

func newNodeCmd() *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "Run an agency node, or ask a running one whether it is ready and for its metrics"}
	var cfgFile, cpuProfile string
	run := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the node daemon: ledger, Raft over QUIC, and the HTTPS API",
		Long: `run starts the node and serves until SIGTERM or SIGINT: the first signal drains the API
(api.shutdown_timeout), then stops Raft and closes the ledger; a second signal exits at once.
Every config key may also come from RAAFT_<SECTION>_<KEY> or a --section.key flag.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.LoadOptions{File: cfgFile, Flags: cmd.Flags()})
			if err != nil {
				return &exitError{exitUsage, err}
			}
			log := newLogger(cfg)
			// every file the node creates (ledger, Raft log and snapshots,
			// checkpoints, access log) is for its own user only; raft's
			// snapshot store would otherwise leave them world-readable
			syscall.Umask(0o077)
			if stop, err := startCPUProfile(cpuProfile); err != nil {
				return &exitError{exitUsage, err}
			} else {
				defer stop()
			}
			tuneGC()
			rm, err := raftMetrics()
			if err != nil {
				return &exitError{exitFailure, err}
			}
			d, err := node.Start(cfg, log, rm)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			log.Info("node started", "node", cfg.Node.ID, "agency", cfg.Node.Agency, "api", d.APIAddr(), "raft", cfg.Raft.BindAddr)
			ctx, cancel := context.WithCancel(context.Background())
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
			go func() {
				<-sigs
				log.Info("shutting down (signal again to force)")
				cancel()
				<-sigs
				log.Error("second signal: exiting now")
				os.Exit(exitFailure)
			}()
			if err := d.Wait(ctx); err != nil {
				return &exitError{exitFailure, err}
			}
			log.Info("node stopped")
			return nil
		},
	}
	run.Flags().StringVar(&cfgFile, "config", "", "config file (YAML or TOML)")
	run.Flags().StringVar(&cpuProfile, "cpuprofile", os.Getenv("RAAFT_CPUPROFILE"), "diagnostics: write a Go CPU profile here until the node stops (env RAAFT_CPUPROFILE; a %s in it becomes the process id)")
	c.AddCommand(run, newNodeStatusCmd(), newNodeMetricsCmd())
	return c
}

func newLogger(cfg config.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// startCPUProfile writes a CPU profile to path ("" does nothing) until stop
// is called; "%s" in path becomes the process id, so several nodes can
// share one setting.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(strings.ReplaceAll(path, "%s", strconv.Itoa(os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
