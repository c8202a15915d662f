package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/raaft/raaft/config"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// devHTTPClient trusts the development CA.
func devHTTPClient(dir string) (*http.Client, error) {
	return httpClientWithCA(filepath.Join(dir, "ca.pem"))
}

func httpClientWithCA(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no certificates", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// devTokens issues (and writes) a token per role for each agency's users.
func devTokens(nd *devNode) (map[string]string, error) {
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join(nd.dir, "node.yaml"), Env: []string{}})
	if err != nil {
		return nil, err
	}
	iss, err := node.LoadDevIssuer(cfg)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, role := range node.Roles {
		tok, err := iss.Issue("demo-"+role+"-officer", []string{role}, devTokenLifetime, time.Now())
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(nd.dir, role+".token"), []byte(tok+"\n"), 0o600); err != nil {
			return nil, err
		}
		out[role] = tok
	}
	return out, nil
}

func devWaitReady(ctx context.Context, dir string, nodes []*devNode) error {
	hc, err := devHTTPClient(dir)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(devReadyTimeout)
	for _, nd := range nodes {
		c := protocol.NewClient("https://"+nd.apiAddr, "", hc)
		for {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := c.Ready(rctx)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := nd.exited(); err != nil {
				return fmt.Errorf("before it was ready: %w", err)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s not ready after %v: %v (see %s)", nd.ag.id, devReadyTimeout, err, filepath.Join(nd.dir, "node.log"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// devSeed publishes fictional demo listings for every agency.
func devSeed(ctx context.Context, dir string, nodes []*devNode, tokens []map[string]string) error {
	hc, err := devHTTPClient(dir)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(2021, 292)) // demo data only: the same mix on every run
	for i, nd := range nodes {
		c := protocol.NewClient("https://"+nd.apiAddr, tokens[i][node.RoleMatching], hc)
		for j := range devListingsEach {
			attrs := demoAttrs(r, i, j)
			if _, err := c.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: attrs}, ""); err != nil {
				return fmt.Errorf("%s: %w", nd.ag.id, err)
			}
		}
	}
	return nil
}

func demoAttrs(r *rand.Rand, agency, j int) ledger.ListingAttrs {
	regions := [][]string{{"north_east", "E08000021"}, {"london", "E09000007"}, {"west_midlands", "E08000025"}, {"south_west", "E06000023"}, {"south_east", "E10000014"}, {"east_midlands", "E06000018"}, {"yorkshire_humber", "E08000035"}}
	reg := regions[agency%len(regions)]
	lv := func() ledger.Level { return ledger.Level(r.IntN(4)) }
	a := ledger.ListingAttrs{
		ApprovalDate: time.Now().AddDate(0, -1-r.IntN(10), 0).Format(time.DateOnly),
		ChildrenMax:  1 + r.IntN(3), AgeMinYears: r.IntN(4),
		Needs:  ledger.Needs{PhysicalDisability: lv(), LearningDisability: lv(), DevelopmentalUncertainty: lv(), FoetalAlcohol: lv(), MedicalNeeds: lv(), TraumaAttachment: lv()},
		Region: reg[0], LocalAuthority: reg[1], TravelBand: ledger.TravelBands[r.IntN(3)],
		FosteringForAdopt: j%3 == 0, ConcurrentPlanning: j%4 == 0,
		EthnicityOpenness: lv(), ReligionOpenness: lv(), LanguageOpenness: lv(),
	}
	a.AgeMaxYears = a.AgeMinYears + 2 + r.IntN(8)
	a.SiblingGroupOK = a.ChildrenMax > 1
	return a
}

func devPrintGuide(out io.Writer, dir string, nodes []*devNode) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nraaft dev: a federation of %d agencies is running (data, logs and keys in %s)\n\n", len(nodes), dir)
	fmt.Fprintf(&b, "  %-13s %-30s %s\n", "AGENCY", "API", "TOKENS (one per role)")
	for _, nd := range nodes {
		fmt.Fprintf(&b, "  %-13s https://%-22s %s/{matching,finance,operator,auditor}.token\n", nd.ag.id, nd.apiAddr, nd.dir)
	}
	first, second := nodes[0], nodes[len(nodes)-1]
	fmt.Fprintf(&b, `
In a browser: each agency's web console is its node's address, e.g. https://%[4]s/
(the certificate is from the local development CA %[1]s/ca.pem: import it, or accept
the warning). Sign in with one click as a matching officer, a finance officer or an
operator; open https://%[6]s/ in another browser profile to be a second agency.

Or from the command line (another terminal):

  export RAAFT_CA=%[1]s/ca.pem
  raaft=%[2]s
  # find adopters across every region, as a matching officer of %[3]s
  $raaft listings search --node https://%[4]s --token-file %[5]s/matching.token --children 1
  # hold one of them for a child (replace LISTING with a token from the search)
  $raaft reserve LISTING --node https://%[4]s --token-file %[5]s/matching.token
  # see the hold from another agency's node, and try to take the same adopter
  $raaft listings get LISTING --node https://%[6]s --token-file %[7]s/matching.token
  $raaft reserve LISTING --node https://%[6]s --token-file %[7]s/matching.token

  curl --cacert %[1]s/ca.pem -H "Authorization: Bearer $(cat %[5]s/matching.token)" https://%[4]s/v1/cluster

Press Ctrl-C to stop every node.
`, dir, selfPath(), first.ag.id, first.apiAddr, first.dir, second.apiAddr, second.dir)
	_, err := io.WriteString(out, b.String())
	return err
}

func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return "raaft"
	}
	return p
}
