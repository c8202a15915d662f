package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/node"
	"github.com/spf13/cobra"
)

// initOpts are what `raaft init` needs to describe one agency and its node.
type initOpts struct {
	Dir, Agency, NodeID, URN, Name, Kind, Nation string
	London                                       bool
	RaftAddr, APIAddr, Genesis                   string
	APIHosts                                     []string // extra names the API certificate covers
	Fast, DevIssuer                              bool
}

func newInitCmd() *cobra.Command {
	var o initOpts
	c := &cobra.Command{
		Use:   "init --dir DIR --agency ID --urn URN --name NAME --kind RAA|VAA|LA",
		Short: "Create an agency's keys, its node's keys and TLS certificate, and a node config",
		Long: `init creates, in DIR: agency.key (the agency's signing key: keep it safe, it signs every
ledger entry and checkpoint), node.key (the node's QUIC/TLS identity, registered in the ledger),
api.crt/api.key (a self-signed HTTPS certificate for the API; replace it with your own),
dev-issuer.key, node.yaml, and agency.json: the agency record to send to whoever assembles
the genesis (or to propose in an add_agency governance vote). Existing keys are never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rec, err := initAgency(o, nil)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			b, _ := json.MarshalIndent(rec, "", "  ")
			fmt.Fprintf(cmd.OutOrStdout(), "created %s\nagency record (also in %s):\n%s\n", o.Dir, filepath.Join(o.Dir, "agency.json"), b)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.Dir, "dir", "", "directory for keys and config (created)")
	f.StringVar(&o.Agency, "agency", "", "agency id (slug, e.g. adopt-north)")
	f.StringVar(&o.NodeID, "node", "", "node id (default AGENCY-node1)")
	f.StringVar(&o.URN, "urn", "", "Ofsted URN")
	f.StringVar(&o.Name, "name", "", "the agency's name")
	f.StringVar(&o.Kind, "kind", "RAA", "RAA, VAA or LA")
	f.StringVar(&o.Nation, "nation", "england", "england, wales, scotland or northern_ireland")
	f.BoolVar(&o.London, "london", false, "a London agency (London fee uplift)")
	f.StringVar(&o.RaftAddr, "raft-addr", "127.0.0.1:7400", "UDP host:port peers reach this node on (QUIC)")
	f.StringVar(&o.APIAddr, "api-addr", "127.0.0.1:8440", "host:port of the HTTPS API")
	f.StringSliceVar(&o.APIHosts, "api-host", nil, "a host name or IP clients use for the API, added to its certificate (repeatable; localhost and 127.0.0.1 are always in it)")
	f.StringVar(&o.Genesis, "genesis", "genesis.json", "path of the signed genesis the node will load")
	return c
}

// initAgency writes keys, certificates and config for one agency node and
// returns its agency record. ca, if set, signs the API certificate.
func initAgency(o initOpts, ca *node.CA) (*ledger.AgencyRecord, error) {
	if o.Dir == "" || o.Agency == "" {
		return nil, errors.New("--dir and --agency are required")
	}
	if o.NodeID == "" {
		o.NodeID = o.Agency + "-node1"
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	keys := map[string]ed25519.PrivateKey{}
	for _, name := range []string{"agency.key", "node.key", "dev-issuer.key"} {
		p := filepath.Join(o.Dir, name)
		k, err := node.ReadKeyFile(p)
		if errors.Is(err, os.ErrNotExist) {
			if k, err = node.GenerateKey(); err == nil {
				err = node.WriteKeyFile(p, k)
			}
		}
		if err != nil {
			return nil, err
		}
		keys[name] = k
	}
	host, _, err := net.SplitHostPort(o.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("--api-addr %q: %w", o.APIAddr, err)
	}
	if err := node.WriteServerCert(filepath.Join(o.Dir, "api.crt"), filepath.Join(o.Dir, "api.key"), apiCertHosts(host, o.APIHosts), ca); err != nil {
		return nil, err
	}
	rec := &ledger.AgencyRecord{
		ID: o.Agency, URN: o.URN, Name: o.Name, Kind: ledger.AgencyKind(o.Kind), Nation: o.Nation, London: o.London,
		PublicKey: ledger.EncodePublicKey(keys["agency.key"].Public().(ed25519.PublicKey)),
		Nodes:     []ledger.Node{{ID: o.NodeID, PublicKey: ledger.EncodePublicKey(keys["node.key"].Public().(ed25519.PublicKey)), Address: o.RaftAddr}},
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Dir, "agency.json"), b, 0o644); err != nil {
		return nil, err
	}
	return rec, writeNodeConfig(o)
}

// apiCertHosts lists the names the API certificate covers: the listen
// host unless it is a wildcard (0.0.0.0 names no host a client can use),
// the hosts asked for, and localhost, 127.0.0.1 and ::1 for the operator
// on the machine itself. No name appears twice.
func apiCertHosts(listen string, extra []string) []string {
	var hosts []string
	if ip := net.ParseIP(listen); listen != "" && (ip == nil || !ip.IsUnspecified()) {
		hosts = append(hosts, listen)
	}
	for _, h := range append(slices.Clone(extra), "localhost", "127.0.0.1", "::1") {
		if h = strings.TrimSpace(h); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

var nodeConfigTmpl = template.Must(template.New("cfg").Parse(`# raaft node configuration for agency {{.Agency}} (written by raaft init).
# Every key can be overridden by an environment variable RAAFT_<SECTION>_<KEY>.
node:
  id: {{.NodeID}}
  agency: {{.Agency}}
  data_dir: data
  genesis_file: {{.Genesis}}
  agency_key_file: agency.key
  node_key_file: node.key
raft:
  bind_addr: {{.RaftAddr}}
{{- if .Fast}}
  # fast timings: every node on this machine (raaft dev up)
  heartbeat_timeout: 250ms
  election_timeout: 250ms
  leader_lease_timeout: 100ms
  commit_timeout: 5ms
  voters_max: 3
{{- end}}
api:
  listen_addr: {{.APIAddr}}
  tls_cert_file: api.crt
  tls_key_file: api.key
auth:
  issuer: raaft-dev-{{.Agency}}
  audience: raaft
  dev_issuer: {{.DevIssuer}}
{{- if .Fast}}
housekeeping:
  expire_interval: 10s
  checkpoint_interval: 2s
{{- end}}
`))

func writeNodeConfig(o initOpts) error {
	f, err := os.OpenFile(filepath.Join(o.Dir, "node.yaml"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := nodeConfigTmpl.Execute(f, o); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
