package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
	"github.com/spf13/cobra"
)

// levelNames are the openness levels a level flag takes, in order.
var levelNames = []string{ledger.LevelNone.String(), ledger.LevelLow.String(), ledger.LevelMedium.String(), ledger.LevelHigh.String()}

// listingAttrFlags are the flags of listings publish and update: one per
// field of ledger.ListingAttrs, or --file holding the attrs object as JSON
// (the "attrs" of POST /v1/listings). Only flags given on the command line
// override the file, or on update the listing's current attributes. Closed
// enumerations are checked here so a typo is a usage error naming the flag;
// the node validates everything again.
type listingAttrFlags struct {
	file                                        string
	approvalDate, region, localAuthority        string
	travelBand, ethnicity, religion, language   string
	needs                                       []string
	childrenMax, ageMinYears, ageMaxYears       int
	siblingGroupOK, fosteringForAdopt, concPlan bool
}

func (a *listingAttrFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&a.file, "file", "", "JSON file with the listing's attrs object (flags given override it)")
	fl.StringVar(&a.approvalDate, "approval-date", "", "date the adopters were approved, YYYY-MM-DD")
	fl.IntVar(&a.childrenMax, "children-max", 1, "most children placed together, 1..4")
	fl.BoolVar(&a.siblingGroupOK, "sibling-group-ok", false, "approved for a sibling group (needed when --children-max > 1)")
	fl.IntVar(&a.ageMinYears, "age-min", 0, "youngest child's age in years, 0..17")
	fl.IntVar(&a.ageMaxYears, "age-max", 0, "oldest child's age in years, age-min..17")
	fl.StringArrayVar(&a.needs, "need", nil, "openness to a need, CATEGORY=LEVEL (repeat); categories: "+strings.Join(ledger.NeedCategories, ", "))
	fl.BoolVar(&a.fosteringForAdopt, "fostering-for-adoption", false, "approved for fostering for adoption")
	fl.BoolVar(&a.concPlan, "concurrent-planning", false, "approved for concurrent planning")
	fl.StringVar(&a.ethnicity, "ethnicity-openness", "", "none, low, medium or high")
	fl.StringVar(&a.religion, "religion-openness", "", "none, low, medium or high")
	fl.StringVar(&a.language, "language-openness", "", "none, low, medium or high")
	fl.StringVar(&a.region, "region", "", "one of "+strings.Join(ledger.Regions, ", "))
	fl.StringVar(&a.localAuthority, "local-authority", "", "GSS code of the council, e.g. E08000003")
	fl.StringVar(&a.travelBand, "travel-band", "", "how far the adopters will travel: "+strings.Join(ledger.TravelBands, ", "))
}

// listingAttrFlagNames are the flags register defines.
var listingAttrFlagNames = []string{"file", "approval-date", "children-max", "sibling-group-ok", "age-min", "age-max", "need",
	"fostering-for-adoption", "concurrent-planning", "ethnicity-openness", "religion-openness", "language-openness",
	"region", "local-authority", "travel-band"}

// changed reports whether any attribute flag (or --file) was given.
func (a *listingAttrFlags) changed(c *cobra.Command) bool {
	for _, n := range listingAttrFlagNames {
		if c.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// apply reads --file (if given) into attrs, then overrides it with each
// flag given on the command line. Errors are usage errors.
func (a *listingAttrFlags) apply(c *cobra.Command, attrs *ledger.ListingAttrs) error {
	if a.file != "" {
		*attrs = ledger.ListingAttrs{}
		if err := readJSONFile(a.file, attrs); err != nil {
			return err
		}
	}
	set := c.Flags().Changed
	if set("approval-date") {
		if _, err := time.Parse(time.DateOnly, a.approvalDate); err != nil {
			return &exitError{exitUsage, fmt.Errorf("--approval-date %q: expected a date YYYY-MM-DD", a.approvalDate)}
		}
		attrs.ApprovalDate = a.approvalDate
	}
	for _, s := range []struct {
		flag    string
		v       string
		allowed []string
		dst     *string
	}{
		{"region", a.region, ledger.Regions, &attrs.Region},
		{"travel-band", a.travelBand, ledger.TravelBands, &attrs.TravelBand},
	} {
		if set(s.flag) {
			if err := oneOf(s.flag, s.v, s.allowed); err != nil {
				return err
			}
			*s.dst = s.v
		}
	}
	if set("local-authority") {
		attrs.LocalAuthority = a.localAuthority
	}
	for _, l := range []struct {
		flag string
		v    string
		dst  *ledger.Level
	}{
		{"ethnicity-openness", a.ethnicity, &attrs.EthnicityOpenness},
		{"religion-openness", a.religion, &attrs.ReligionOpenness},
		{"language-openness", a.language, &attrs.LanguageOpenness},
	} {
		if set(l.flag) {
			if err := parseLevelFlag(l.flag, l.v, l.dst); err != nil {
				return err
			}
		}
	}
	for _, n := range []struct {
		flag string
		v    int
		dst  *int
	}{{"children-max", a.childrenMax, &attrs.ChildrenMax}, {"age-min", a.ageMinYears, &attrs.AgeMinYears}, {"age-max", a.ageMaxYears, &attrs.AgeMaxYears}} {
		if set(n.flag) {
			*n.dst = n.v
		}
	}
	for _, b := range []struct {
		flag string
		v    bool
		dst  *bool
	}{{"sibling-group-ok", a.siblingGroupOK, &attrs.SiblingGroupOK}, {"fostering-for-adoption", a.fosteringForAdopt, &attrs.FosteringForAdopt}, {"concurrent-planning", a.concPlan, &attrs.ConcurrentPlanning}} {
		if set(b.flag) {
			*b.dst = b.v
		}
	}
	return a.applyNeeds(attrs)
}

// applyNeeds sets each --need CATEGORY=LEVEL.
func (a *listingAttrFlags) applyNeeds(attrs *ledger.ListingAttrs) error {
	dst := map[string]*ledger.Level{
		"physical_disability": &attrs.Needs.PhysicalDisability, "learning_disability": &attrs.Needs.LearningDisability,
		"developmental_uncertainty": &attrs.Needs.DevelopmentalUncertainty, "foetal_alcohol": &attrs.Needs.FoetalAlcohol,
		"medical_needs": &attrs.Needs.MedicalNeeds, "trauma_attachment": &attrs.Needs.TraumaAttachment,
	}
	for _, c := range ledger.NeedCategories {
		if dst[c] == nil || len(dst) != len(ledger.NeedCategories) {
			panic("cli: --need does not match ledger.NeedCategories: " + c) // a programmer error, caught by any --need test
		}
	}
	for _, n := range a.needs {
		cat, lvl, ok := strings.Cut(n, "=")
		if !ok {
			return &exitError{exitUsage, fmt.Errorf("--need %q: expected CATEGORY=LEVEL, e.g. medical_needs=low", n)}
		}
		if err := oneOf("need", cat, ledger.NeedCategories); err != nil {
			return err
		}
		if err := parseLevelFlag("need "+cat, lvl, dst[cat]); err != nil {
			return err
		}
	}
	return nil
}

func parseLevelFlag(flag, v string, dst *ledger.Level) error {
	if err := oneOf(flag, v, levelNames); err != nil {
		return err
	}
	return dst.UnmarshalText([]byte(v))
}

// requirePublishFlags names the attributes a publish without --file must give.
func (a *listingAttrFlags) requirePublishFlags(c *cobra.Command) error {
	if a.file != "" {
		return nil
	}
	var missing []string
	for _, fl := range []string{"approval-date", "region", "local-authority", "travel-band"} {
		if !c.Flags().Changed(fl) {
			missing = append(missing, "--"+fl)
		}
	}
	if len(missing) > 0 {
		return &exitError{exitUsage, fmt.Errorf("publish needs %s (or --file with the attrs)", strings.Join(missing, ", "))}
	}
	return nil
}

// emitWrite prints an accepted write, with extra columns after the result's.
func emitWrite(cmd *cobra.Command, f *apiFlags, r protocol.WriteResult, extraHeader []string, extra ...string) {
	h, rows := writeRows(r)
	emit(cmd.OutOrStdout(), f, r, append(h, extraHeader...), [][]string{append(rows[0], extra...)})
}

func newPublishCmd(f *apiFlags) *cobra.Command {
	var pub listingAttrFlags
	var key string
	publish := &cobra.Command{
		Use: "publish [TOKEN]", Short: "Publish an approved adopter of your agency (TOKEN default: a new opaque token)", Args: cobra.MaximumNArgs(1),
		Example: "  raaft listings publish --approval-date 2026-01-15 --region north_west --local-authority E08000003 \\\n" +
			"    --travel-band regional --age-max 6 --children-max 2 --sibling-group-ok --need trauma_attachment=medium",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pub.requirePublishFlags(cmd); err != nil {
				return err
			}
			req := protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledger.ListingAttrs{ChildrenMax: 1}}
			if len(args) == 1 {
				req.Token = args[0]
			}
			if err := pub.apply(cmd, &req.Attrs); err != nil {
				return err
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.Publish(ctx, req, key)
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, []string{"TOKEN"}, req.Token)
				return nil
			})
		},
	}
	pub.register(publish)
	publish.Flags().StringVar(&key, "idempotency-key", "", "reuse to retry safely (default: new)")
	return publish
}

func newUpdateCmd(f *apiFlags) *cobra.Command {
	var upd listingAttrFlags
	update := &cobra.Command{
		Use:   "update TOKEN",
		Short: "Change a listing's attributes: the flags given replace those values, the rest are kept",
		Long: `update reads the listing's current attributes, replaces the ones named by flags (or all
of them, with --file), and sends the whole set (PUT replaces every attribute). A change
made by someone else between the read and the write is overwritten.`,
		Example: "  raaft listings update TOKEN --travel-band national --need medical_needs=high",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !upd.changed(cmd) {
				return &exitError{exitUsage, errors.New("nothing to change: give attribute flags or --file")}
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				attrs := ledger.ListingAttrs{}
				if upd.file == "" {
					cur, err := cl.Listing(ctx, args[0], true)
					if err != nil {
						return apiErr(err)
					}
					attrs = cur.Attrs
				}
				if err := upd.apply(cmd, &attrs); err != nil {
					return err
				}
				r, err := cl.Update(ctx, args[0], attrs, "")
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, nil)
				return nil
			})
		},
	}
	upd.register(update)
	return update
}

// addListingWrites adds publish, update, pause, resume, withdraw and
// history to the listings command.
func addListingWrites(c *cobra.Command, f *apiFlags) {
	c.AddCommand(operation(newPublishCmd(f), "publishListing"), operation(newUpdateCmd(f), "updateListing"))
	shorts := map[string]string{
		"pause":    "Take an available listing out of searches until it is resumed",
		"resume":   "Make a paused listing available again",
		"withdraw": "Withdraw a listing for good",
	}
	for _, action := range []string{"pause", "resume", "withdraw"} {
		sub := &cobra.Command{Use: action + " TOKEN", Short: shorts[action], Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(func(ctx context.Context, cl *protocol.Client) error {
					r, err := cl.ListingAction(ctx, args[0], action, "")
					if err != nil {
						return apiErr(err)
					}
					emitWrite(cmd, f, r, nil)
					return nil
				})
			}}
		c.AddCommand(operation(sub, action+"Listing"))
	}
	c.AddCommand(operation(newHistoryCmd(f), "listingHistory"))
}

func newHistoryCmd(f *apiFlags) *cobra.Command {
	return &cobra.Command{Use: "history TOKEN", Short: "Every accepted entry that touched a listing, oldest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				hs, err := cl.History(ctx, args[0])
				if err != nil {
					return apiErr(err)
				}
				var rows [][]string
				for _, e := range hs {
					rows = append(rows, entryRow(e))
				}
				emit(cmd.OutOrStdout(), f, hs, entryHeader, rows)
				return nil
			})
		}}
}

// entryHeader and entryRow are the columns of a ledger entry.
var entryHeader = []string{"SEQ", "TIME", "KIND", "TYPE", "AGENCY", "USER", "ENTRY_HASH"}

func entryRow(e ledger.HistoryEntry) []string {
	typ, agency, user := "", "", ""
	if e.Command != nil {
		typ, agency, user = e.Command.Type, e.Command.Agency, e.Command.User
	}
	return []string{strconv.FormatUint(e.Seq, 10), time.UnixMilli(e.TimeMs).UTC().Format(time.RFC3339), e.Kind, typ, agency, user, e.EntryHash.String()}
}

func newReservationGetCmd(f *apiFlags) *cobra.Command {
	var lin bool
	c := &cobra.Command{Use: "get ID", Short: "Show one reservation", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("reservation id %q: expected a number", args[0])}
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.Reservation(ctx, id, lin)
				if err != nil {
					return apiErr(err)
				}
				h, rows := resRows([]ledger.Reservation{r})
				emit(cmd.OutOrStdout(), f, r, h, rows)
				return nil
			})
		}}
	c.Flags().BoolVar(&lin, "linearizable", false, "read after everything committed so far (slower)")
	return operation(c, "getReservation")
}
