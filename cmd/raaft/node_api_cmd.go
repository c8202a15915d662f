package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/raaft/raaft/protocol"
	"github.com/spf13/cobra"
)

// nodeStatus is what `raaft node status` found: the node's liveness
// (GET /healthz) and readiness (GET /readyz).
type nodeStatus struct {
	Health string `json:"health"` // ok
	Ready  bool   `json:"ready"`
	Detail string `json:"detail,omitempty"` // why not ready
}

func newNodeStatusCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "status", Short: "Is the node up (healthz) and ready to serve (readyz)? Exits 1 if not ready", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				if err := cl.Healthz(ctx); err != nil {
					return apiErr(err)
				}
				st := nodeStatus{Health: "ok", Ready: true}
				var pe *protocol.Error
				switch err := cl.Readyz(ctx); {
				case errors.As(err, &pe) && pe.Status == http.StatusServiceUnavailable:
					st.Ready, st.Detail = false, pe.Detail
				case err != nil:
					return apiErr(err)
				}
				ready := "ready"
				if !st.Ready {
					ready = "not ready"
				}
				emit(cmd.OutOrStdout(), f, st, []string{"HEALTH", "READY", "DETAIL"}, [][]string{{st.Health, ready, st.Detail}})
				if !st.Ready {
					return &exitError{exitFailure, fmt.Errorf("node not ready: %s", st.Detail)}
				}
				return nil
			})
		}}
	f.register(c)
	return operation(c, "healthz", "readyz")
}

// metricLineBytesMax bounds one line of the metrics text (the client
// already bounds the whole body).
const metricLineBytesMax = 1 << 20

// metricSample is one line of the Prometheus text format.
type metricSample struct {
	Name   string `json:"name"`
	Labels string `json:"labels,omitempty"`
	Value  string `json:"value"`
}

func newNodeMetricsCmd() *cobra.Command {
	f := &apiFlags{}
	var prefix string
	c := &cobra.Command{Use: "metrics", Short: "The node's Prometheus metrics as rows (no token needed)", Args: cobra.NoArgs,
		Example: "  raaft node metrics --name raaft_api_requests_total",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				b, err := cl.Metrics(ctx)
				if err != nil {
					return apiErr(err)
				}
				samples, err := parseMetrics(b, prefix)
				if err != nil {
					return &exitError{exitFailure, err}
				}
				var rows [][]string
				for _, s := range samples {
					rows = append(rows, []string{s.Name, s.Labels, s.Value})
				}
				emit(cmd.OutOrStdout(), f, samples, []string{"NAME", "LABELS", "VALUE"}, rows)
				return nil
			})
		}}
	f.register(c)
	c.Flags().StringVar(&prefix, "name", "", "only metrics whose name starts with this")
	return operation(c, "metrics")
}

// parseMetrics reads the sample lines of the Prometheus text exposition
// format (name{labels} value [timestamp]), skipping comments; a line it
// cannot split is kept whole as a name, and a line over metricLineBytesMax
// is an error, so nothing is dropped silently.
func parseMetrics(b []byte, prefix string) ([]metricSample, error) {
	out := []metricSample{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), metricLineBytesMax)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var s metricSample
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			if j := strings.LastIndexByte(line, '}'); j > i {
				s.Name, s.Labels, rest = line[:i], line[i+1:j], strings.TrimSpace(line[j+1:])
			}
		} else if name, v, ok := strings.Cut(line, " "); ok {
			s.Name, rest = name, strings.TrimSpace(v)
		}
		if s.Name == "" {
			s.Name, rest = line, ""
		}
		s.Value, _, _ = strings.Cut(rest, " ")
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	return out, nil
}
