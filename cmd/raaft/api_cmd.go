package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
	"github.com/spf13/cobra"
)

// apiFlags are shared by every command that talks to a node's API.
type apiFlags struct {
	node, token, tokenFile, ca, output string
	timeout                            time.Duration
}

func (f *apiFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&f.node, "node", os.Getenv("RAAFT_NODE"), "node API URL (env RAAFT_NODE)")
	c.PersistentFlags().StringVar(&f.token, "token", "", "bearer token (or env RAAFT_TOKEN, or --token-file)")
	c.PersistentFlags().StringVar(&f.tokenFile, "token-file", os.Getenv("RAAFT_TOKEN_FILE"), "file holding the bearer token")
	c.PersistentFlags().StringVar(&f.ca, "ca", os.Getenv("RAAFT_CA"), "CA certificate to trust for the node's HTTPS (env RAAFT_CA)")
	c.PersistentFlags().StringVar(&f.output, "output", "table", "table, json or csv")
	c.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
}

func (f *apiFlags) client() (*protocol.Client, context.Context, context.CancelFunc, error) {
	if f.node == "" {
		return nil, nil, nil, &exitError{exitUsage, errors.New("--node URL is required (or RAAFT_NODE)")}
	}
	tok := f.token
	if tok == "" {
		tok = os.Getenv("RAAFT_TOKEN")
	}
	if tok == "" && f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, nil, nil, &exitError{exitUsage, err}
		}
		tok = strings.TrimSpace(string(b))
	}
	switch f.output {
	case "table", "json", "csv":
	default:
		return nil, nil, nil, &exitError{exitUsage, fmt.Errorf("--output %q: expected table, json or csv", f.output)}
	}
	hc, err := httpClientWithCA(f.ca)
	if err != nil {
		return nil, nil, nil, &exitError{exitUsage, err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	return protocol.NewClient(strings.TrimRight(f.node, "/"), tok, hc), ctx, cancel, nil
}

// call runs fn with a client for the node and a context bounded by --timeout.
func (f *apiFlags) call(fn func(ctx context.Context, cl *protocol.Client) error) error {
	cl, ctx, cancel, err := f.client()
	if err != nil {
		return err
	}
	defer cancel()
	return fn(ctx, cl)
}

// apiErr maps client errors to exit codes: rejected by the ledger or the
// API (3), unreachable (4).
func apiErr(err error) error {
	var pe *protocol.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		msg := pe.Error()
		if pe.HoldExpiresMs > 0 && !strings.Contains(msg, "until") {
			msg += fmt.Sprintf(" (held until %s)", time.UnixMilli(pe.HoldExpiresMs).UTC().Format(time.RFC3339))
		}
		return &exitError{exitRejected, errors.New(msg)}
	case errors.Is(err, protocol.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return &exitError{exitUnreachable, err}
	}
	return &exitError{exitFailure, err}
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// table prints rows as a table, or CSV; json prints v.
func emit(w io.Writer, f *apiFlags, v any, header []string, rows [][]string) {
	switch f.output {
	case "json":
		printJSON(w, v)
	case "csv":
		fmt.Fprintln(w, strings.Join(header, ","))
		for _, r := range rows {
			for i := range r {
				if strings.ContainsAny(r[i], ",\"\n") {
					r[i] = `"` + strings.ReplaceAll(r[i], `"`, `""`) + `"`
				}
			}
			fmt.Fprintln(w, strings.Join(r, ","))
		}
	default:
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
	}
}

func writeRows(r protocol.WriteResult) ([]string, [][]string) {
	return []string{"RESULT", "SEQ", "ENTRY_HASH", "ROOT"}, [][]string{{"accepted", strconv.FormatUint(r.Seq, 10), r.EntryHash.String(), r.Root.String()}}
}

func listingRows(ls []ledger.Listing) ([]string, [][]string) {
	h := []string{"TOKEN", "AGENCY", "STATUS", "REGION", "CHILDREN", "AGES", "FFA", "TRAVEL"}
	var rows [][]string
	for _, l := range ls {
		rows = append(rows, []string{l.Token, l.Agency, l.Status, l.Attrs.Region, strconv.Itoa(l.Attrs.ChildrenMax),
			fmt.Sprintf("%d-%d", l.Attrs.AgeMinYears, l.Attrs.AgeMaxYears), strconv.FormatBool(l.Attrs.FosteringForAdopt), l.Attrs.TravelBand})
	}
	return h, rows
}

func resRows(rs []ledger.Reservation) ([]string, [][]string) {
	h := []string{"ID", "LISTING", "HOLDER", "OWNER", "STATUS", "EXPIRES", "EXTENSIONS"}
	var rows [][]string
	for _, r := range rs {
		rows = append(rows, []string{strconv.FormatUint(r.ID, 10), r.Listing, r.Holder, r.ListingAgency, r.Status,
			time.UnixMilli(r.ExpiresMs).UTC().Format(time.RFC3339), strconv.Itoa(r.Extensions)})
	}
	return h, rows
}

func newListingsCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "listings", Short: "Search and read adopter listings"}
	f.register(c)
	var q searchFlags
	search := &cobra.Command{
		Use: "search", Short: "Search available adopters across every region", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				res, err := cl.Search(ctx, q.values(cmd))
				if err != nil {
					return apiErr(err)
				}
				h, rows := listingRows(res.Listings)
				emit(cmd.OutOrStdout(), f, res, h, rows)
				if f.output == "table" {
					fmt.Fprintf(cmd.OutOrStdout(), "%d of %d matching\n", len(res.Listings), res.Total)
				}
				return nil
			})
		},
	}
	q.register(search)
	var lin bool
	get := &cobra.Command{
		Use: "get TOKEN", Short: "Show one listing and who holds it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				v, err := cl.Listing(ctx, args[0], lin)
				if err != nil {
					return apiErr(err)
				}
				h, rows := listingRows([]ledger.Listing{v.Listing})
				emit(cmd.OutOrStdout(), f, v, h, rows)
				if v.Hold != nil && f.output == "table" {
					fmt.Fprintf(cmd.OutOrStdout(), "held by %s (reservation %d) until %s\n", v.Hold.Holder, v.Hold.ID, time.UnixMilli(v.Hold.ExpiresMs).UTC().Format(time.RFC3339))
				}
				return nil
			})
		},
	}
	get.Flags().BoolVar(&lin, "linearizable", false, "read after everything committed so far (slower)")
	c.AddCommand(operation(search, "searchListings"), operation(get, "getListing"))
	addListingWrites(c, f)
	return c
}

type searchFlags struct {
	region, status, la, agency, travel string
	age, children                      int
	ffa, concurrent                    bool
	limit                              int
}

func (s *searchFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&s.region, "region", "", "regions, comma-separated")
	c.Flags().StringVar(&s.status, "status", "", "statuses, comma-separated (default available)")
	c.Flags().StringVar(&s.la, "local-authority", "", "GSS code of a council")
	c.Flags().StringVar(&s.agency, "agency", "", "approving agency")
	c.Flags().StringVar(&s.travel, "travel-min", "", "local, regional or national")
	c.Flags().IntVar(&s.age, "child-age", -1, "the child's age in years")
	c.Flags().IntVar(&s.children, "children", 0, "number of children together")
	c.Flags().BoolVar(&s.ffa, "fostering-for-adoption", false, "approved for fostering for adoption")
	c.Flags().BoolVar(&s.concurrent, "concurrent-planning", false, "approved for concurrent planning")
	c.Flags().IntVar(&s.limit, "limit", 50, "page size")
}

func (s *searchFlags) values(cmd *cobra.Command) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("region", s.region)
	set("status", s.status)
	set("local_authority", s.la)
	set("agency", s.agency)
	set("travel_min", s.travel)
	if s.age >= 0 {
		q.Set("child_age_years", strconv.Itoa(s.age))
	}
	if s.children > 0 {
		q.Set("children", strconv.Itoa(s.children))
	}
	if s.ffa {
		q.Set("fostering_for_adoption", "true")
	}
	if s.concurrent {
		q.Set("concurrent_planning", "true")
	}
	q.Set("limit", strconv.Itoa(s.limit))
	return q
}

func newReserveCmd() *cobra.Command {
	f := &apiFlags{}
	var children []string
	var flags string
	var days int
	var key string
	c := &cobra.Command{
		Use: "reserve LISTING", Short: "Hold an adopter exclusively for a child of your agency", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				if len(children) == 0 {
					children = []string{protocol.NewToken()}
				}
				req := protocol.ReserveRequest{Listing: args[0], ChildTokens: children, HoldDays: days}
				if flags != "" {
					req.Flags = strings.Split(flags, ",")
				}
				for _, fl := range req.Flags {
					if err := oneOf("harder-to-place", fl, ledger.HarderToPlaceFlags); err != nil {
						return err
					}
				}
				r, err := cl.Reserve(ctx, req, key)
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, []string{"RESERVATION"}, strconv.FormatUint(r.ID, 10))
				return nil
			})
		},
	}
	f.register(c)
	c.Flags().StringSliceVar(&children, "child", nil, "the child's opaque token (repeat for siblings; default: a new token)")
	c.Flags().StringVar(&flags, "harder-to-place", "", "flags, comma-separated: "+strings.Join(ledger.HarderToPlaceFlags, ", "))
	c.Flags().IntVar(&days, "days", 0, "hold length in days (default: policy)")
	c.Flags().StringVar(&key, "idempotency-key", "", "reuse to retry safely (default: new)")
	return operation(c, "reserve")
}

func newReservationsCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "reservations", Short: "Your agency's holds: list, extend, release, confirm, place"}
	f.register(c)
	var agency, status string
	list := &cobra.Command{
		Use: "list", Short: "Holds your agency holds or whose adopter it approved", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				rs, err := cl.Reservations(ctx, agency, status)
				if err != nil {
					return apiErr(err)
				}
				h, rows := resRows(rs)
				emit(cmd.OutOrStdout(), f, rs, h, rows)
				return nil
			})
		},
	}
	list.Flags().StringVar(&agency, "agency", "", "agency (default: the node's)")
	list.Flags().StringVar(&status, "status", "", "active, released, expired, confirmed or placed")
	c.AddCommand(operation(list, "listReservations"), newReservationGetCmd(f))
	var reason, moveIn string
	for _, action := range []string{"extend", "release", "confirm", "place", "expire"} {
		sub := &cobra.Command{
			Use: action + " ID", Short: strings.ToUpper(action[:1]) + action[1:] + " a hold", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseUint(args[0], 10, 64)
				if err != nil {
					return &exitError{exitUsage, fmt.Errorf("reservation id %q: expected a number", args[0])}
				}
				return f.call(func(ctx context.Context, cl *protocol.Client) error {
					var r protocol.WriteResult
					switch action {
					case "release":
						r, err = cl.Release(ctx, id, reason, "")
					case "place":
						r, err = cl.Place(ctx, id, moveIn, "")
					default:
						r, err = cl.ReservationAction(ctx, id, action, "")
					}
					if err != nil {
						return apiErr(err)
					}
					emitWrite(cmd, f, r, nil)
					return nil
				})
			},
		}
		switch action {
		case "release":
			sub.Flags().StringVar(&reason, "reason", "", "reason code")
		case "place":
			sub.Flags().StringVar(&moveIn, "move-in", time.Now().Format(time.DateOnly), "the date the child moved in")
		}
		c.AddCommand(operation(sub, action+"Reservation"))
	}
	return c
}

func newClusterCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{
		Use: "cluster", Short: "The federation as this node sees it: leader, members, ledger head, checkpoint", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				st, err := cl.Cluster(ctx)
				if err != nil {
					return apiErr(err)
				}
				var rows [][]string
				for _, s := range st.Servers {
					role := s.Suffrage
					if s.ID == st.LeaderID {
						role = "leader"
					}
					rows = append(rows, []string{s.ID, s.Address, role})
				}
				emit(cmd.OutOrStdout(), f, st, []string{"NODE", "ADDRESS", "ROLE"}, rows)
				if f.output == "table" {
					fmt.Fprintf(cmd.OutOrStdout(), "ledger: %d entries, root %s\n", st.Head.Size, st.Head.Root)
					if cp := st.CosignedCheckpoint; cp != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "checkpoint: size %d co-signed by %d agencies\n", cp.Size, len(cp.Signatures))
					}
				}
				return nil
			})
		},
	}
	f.register(c)
	c.AddCommand(newTransferLeadershipCmd())
	return operation(c, "clusterStatus")
}

func newTransferLeadershipCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{
		Use: "transfer-leadership", Short: "Hand the federation's leadership to the most caught-up other voter (before maintenance on the leader's host); operator", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				lt, err := cl.TransferLeadership(ctx)
				if err != nil {
					return apiErr(err)
				}
				emit(cmd.OutOrStdout(), f, lt, []string{"FROM", "TO"}, [][]string{{lt.From, lt.To}})
				return nil
			})
		},
	}
	f.register(c)
	return operation(c, "transferLeadership")
}
