package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
	"github.com/spf13/cobra"
)

func newFeesCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "fees", Short: "Interagency fees: obligations, invoices, payments, netting, statements"}
	f.register(c)
	var year int
	var from, to string
	var linearizable bool
	c.PersistentFlags().BoolVar(&linearizable, "linearizable", true, "read after everything committed so far (finance figures are never stale)")
	periodQ := func() url.Values {
		q := url.Values{}
		if linearizable {
			q.Set("consistency", "linearizable")
		}
		if year != 0 {
			q.Set("year", strconv.Itoa(year))
		}
		if from != "" {
			q.Set("from", from)
			q.Set("to", to)
		}
		return q
	}
	addPeriod := func(cmd *cobra.Command) {
		cmd.Flags().IntVar(&year, "year", 0, "fee year (2026 = 1 April 2026 to 31 March 2027)")
		cmd.Flags().StringVar(&from, "from", "", "period start YYYY-MM-DD")
		cmd.Flags().StringVar(&to, "to", "", "period end YYYY-MM-DD")
	}

	var role, counterparty, status string
	list := &cobra.Command{Use: "obligations", Short: "Fees your agency owes or is owed", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				q := periodQ()
				for k, v := range map[string]string{"role": role, "counterparty": counterparty, "status": status} { //det:ok building a query
					if v != "" {
						q.Set(k, v)
					}
				}
				os, err := cl.Obligations(ctx, q)
				if err != nil {
					return apiErr(err)
				}
				var total int64
				for _, o := range os {
					total += o.OutstandingPence()
				}
				h, rows := obligationRows(os)
				emit(cmd.OutOrStdout(), f, os, h, rows)
				if f.output == "table" {
					fmt.Fprintf(cmd.OutOrStdout(), "%d obligations, £%s outstanding\n", len(os), ledger.FormatPounds(total))
				}
				return nil
			})
		}}
	list.Flags().StringVar(&role, "role", "", "debtor (owed by you) or creditor (owed to you)")
	list.Flags().StringVar(&counterparty, "counterparty", "", "the other agency")
	list.Flags().StringVar(&status, "status", "", "status")
	addPeriod(list)
	c.AddCommand(operation(list, "listObligations"))

	var req protocol.FeeRequest
	var pounds string
	for _, action := range node.FeeActions {
		sub := &cobra.Command{Use: action + " OBLIGATION_ID", Short: strings.ReplaceAll(action, "-", " ") + " (an obligation)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseUint(args[0], 10, 64)
				if err != nil {
					return &exitError{exitUsage, fmt.Errorf("obligation id %q: expected a number", args[0])}
				}
				if pounds != "" {
					if req.AmountPence, err = ledger.ParsePounds(pounds); err != nil {
						return &exitError{exitUsage, fmt.Errorf("--amount %q: %v", pounds, err)}
					}
				}
				if action == "pay" && req.Reference == "" {
					req.Reference = protocol.NewToken()
				}
				return f.call(func(ctx context.Context, cl *protocol.Client) error {
					r, err := cl.FeeAction(ctx, id, action, req, "")
					if err != nil {
						return apiErr(err)
					}
					emitWrite(cmd, f, r, nil)
					return nil
				})
			}}
		switch action {
		case "invoice", "propose-resolution", "accept-resolution", "pay":
			sub.Flags().StringVar(&pounds, "amount", "", "amount in pounds, e.g. 27000.00")
		}
		switch action {
		case "invoice":
			sub.Flags().StringVar(&req.Adjustment, "adjustment", "", "why the amount differs from the fee")
		case "dispute", "request-write-off":
			sub.Flags().StringVar(&req.Reason, "reason", "", "reason code")
		case "pay":
			sub.Flags().StringVar(&req.Reference, "reference", "", "opaque payment reference (default: new)")
		}
		c.AddCommand(operation(sub, "fee_"+action))
	}
	c.AddCommand(operation(&cobra.Command{Use: "confirm-receipt PAYMENT_ID", Short: "Confirm a payment arrived (creditor)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("payment id %q: expected a number", args[0])}
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.ConfirmReceipt(ctx, id, "")
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, nil)
				return nil
			})
		}}, "confirmReceipt"))
	netting := &cobra.Command{Use: "netting", Short: "Each agency's net position for a period and the transfers that clear everyone", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				plan, err := cl.NettingPlan(ctx, periodQ())
				if err != nil {
					return apiErr(err)
				}
				var rows [][]string
				for _, t := range plan.Transfers {
					rows = append(rows, []string{t.From, t.To, ledger.FormatPounds(t.AmountPence)})
				}
				emit(cmd.OutOrStdout(), f, plan, []string{"PAYER", "PAYEE", "AMOUNT_GBP"}, rows)
				return nil
			})
		}}
	addPeriod(netting)
	c.AddCommand(operation(netting, "nettingPlan"))
	writeCmd := func(use, short string, nargs int, do func(ctx context.Context, cl *protocol.Client, args []string) (protocol.WriteResult, error)) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(nargs),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(func(ctx context.Context, cl *protocol.Client) error {
					r, err := do(ctx, cl, args)
					if err != nil {
						return apiErr(err)
					}
					emitWrite(cmd, f, r, nil)
					return nil
				})
			}}
	}
	open := writeCmd("netting-open FROM TO", "Open a netting run over obligations with move-in dates FROM..TO (YYYY-MM-DD)", 2,
		func(ctx context.Context, cl *protocol.Client, a []string) (protocol.WriteResult, error) {
			return cl.OpenNetting(ctx, a[0], a[1], "")
		})
	var ref string
	payLeg := writeCmd("netting-pay RUN LEG", "Record that your agency paid one leg of a netting run", 2,
		func(ctx context.Context, cl *protocol.Client, a []string) (protocol.WriteResult, error) {
			run, leg, err := runLeg(a)
			if err != nil {
				return protocol.WriteResult{}, err
			}
			if ref == "" {
				ref = protocol.NewToken()
			}
			return cl.NettingLeg(ctx, run, leg, true, ref, "")
		})
	payLeg.Flags().StringVar(&ref, "reference", "", "opaque payment reference (default: new)")
	confirmLeg := writeCmd("netting-confirm RUN LEG", "Confirm your agency received one leg of a netting run", 2,
		func(ctx context.Context, cl *protocol.Client, a []string) (protocol.WriteResult, error) {
			run, leg, err := runLeg(a)
			if err != nil {
				return protocol.WriteResult{}, err
			}
			return cl.NettingLeg(ctx, run, leg, false, "", "")
		})
	c.AddCommand(operation(open, "openNetting"), operation(payLeg, "payNettingLeg"), operation(confirmLeg, "confirmNettingLeg"))
	var format, out string
	var asOf uint64
	stmt := &cobra.Command{Use: "statement", Short: "Your agency's statement: opening balance, every movement with its ledger sequence and hash, closing balance", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				q := periodQ()
				q.Set("format", format)
				if asOf > 0 {
					q.Set("as_of_seq", strconv.FormatUint(asOf, 10))
				}
				b, err := cl.Statement(ctx, q)
				if err != nil {
					return apiErr(err)
				}
				if out != "" {
					return os.WriteFile(out, b, 0o644)
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			})
		}}
	addPeriod(stmt)
	stmt.Flags().StringVar(&format, "format", "csv", "csv or json")
	stmt.Flags().StringVar(&out, "out", "", "write to this file instead of stdout")
	stmt.Flags().Uint64Var(&asOf, "as-of-seq", 0, "the ledger as it was at this sequence (reproducible)")
	c.AddCommand(operation(stmt, "statement"))
	var stmtFile string
	rec := &cobra.Command{Use: "reconcile --statement FILE.csv", Short: "Check a finance system's statement export against the ledger", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fh, err := os.Open(stmtFile)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			defer fh.Close()
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.Reconcile(ctx, periodQ(), fh)
				if err != nil {
					return apiErr(err)
				}
				var rows [][]string
				for _, m := range r.Mismatches {
					rows = append(rows, []string{m.Kind, m.Row, ledger.FormatPounds(m.LedgerPence), ledger.FormatPounds(m.ExportPence)})
				}
				emit(cmd.OutOrStdout(), f, r, []string{"MISMATCH", "TRANSFER", "LEDGER_GBP", "STATEMENT_GBP"}, rows)
				if f.output == "table" {
					fmt.Fprintf(cmd.OutOrStdout(), "%d lines match, %d mismatches\n", r.Matched, len(r.Mismatches))
				}
				if len(r.Mismatches) > 0 {
					return &exitError{exitFailure, fmt.Errorf("%d mismatches", len(r.Mismatches))}
				}
				return nil
			})
		}}
	rec.Flags().StringVar(&stmtFile, "statement", "", "the CSV export to check")
	addPeriod(rec)
	c.AddCommand(operation(rec, "reconcile"))
	addFeeReads(c, f, &linearizable)
	return c
}

func runLeg(a []string) (uint64, int, error) {
	run, err := strconv.ParseUint(a[0], 10, 64)
	if err != nil {
		return 0, 0, &exitError{exitUsage, fmt.Errorf("run %q: expected a number", a[0])}
	}
	leg, err := strconv.Atoi(a[1])
	if err != nil {
		return 0, 0, &exitError{exitUsage, fmt.Errorf("leg %q: expected a number", a[1])}
	}
	return run, leg, nil
}

// obligationRows are the columns of obligations and obligation.
func obligationRows(os []ledger.Obligation) ([]string, [][]string) {
	var rows [][]string
	for _, o := range os {
		rows = append(rows, []string{strconv.FormatUint(o.ID, 10), o.Debtor, o.Creditor, o.Status, o.MoveInDate, ledger.FormatPounds(o.AmountPence), ledger.FormatPounds(o.OutstandingPence())})
	}
	return []string{"ID", "DEBTOR", "CREDITOR", "STATUS", "MOVE_IN", "AMOUNT_GBP", "OUTSTANDING_GBP"}, rows
}

// addFeeReads adds the single-record fee reads: one obligation, the
// agency's position, one netting run; *linearizable is the fees command's
// --linearizable flag.
func addFeeReads(c *cobra.Command, f *apiFlags, linearizable *bool) {
	getOb := &cobra.Command{Use: "obligation ID", Short: "One obligation: parties, status, amount and what is outstanding", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseSeq("obligation id", args[0])
			if err != nil {
				return err
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				o, err := cl.Obligation(ctx, id, *linearizable)
				if err != nil {
					return apiErr(err)
				}
				h, rows := obligationRows([]ledger.Obligation{o})
				emit(cmd.OutOrStdout(), f, o, h, rows)
				return nil
			})
		}}
	var asOf string
	position := &cobra.Command{Use: "position", Short: "What your agency owes and is owed, and how much of it is due", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				p, err := cl.Position(ctx, asOf, *linearizable)
				if err != nil {
					return apiErr(err)
				}
				emit(cmd.OutOrStdout(), f, p, []string{"AGENCY", "AS_OF", "OWES_GBP", "DUE_GBP", "OWED_GBP", "OWED_DUE_GBP", "OPEN"},
					[][]string{{p.Agency, p.AsOf, ledger.FormatPounds(p.OwesPence), ledger.FormatPounds(p.DuePence),
						ledger.FormatPounds(p.OwedPence), ledger.FormatPounds(p.OwedDuePence), strconv.Itoa(p.Open)}})
				return nil
			})
		}}
	position.Flags().StringVar(&asOf, "as-of", "", "count dues up to this date, YYYY-MM-DD (default: today)")
	run := &cobra.Command{Use: "netting-run RUN", Short: "One netting run: its period, status and each leg", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseSeq("run", args[0])
			if err != nil {
				return err
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.NettingRun(ctx, id, *linearizable)
				if err != nil {
					return apiErr(err)
				}
				var rows [][]string
				for i, l := range r.Legs {
					rows = append(rows, []string{strconv.Itoa(i), l.From, l.To, ledger.FormatPounds(l.AmountPence), l.Status, l.Reference})
				}
				emit(cmd.OutOrStdout(), f, r, []string{"LEG", "PAYER", "PAYEE", "AMOUNT_GBP", "STATUS", "REFERENCE"}, rows)
				if f.output == "table" {
					fmt.Fprintf(cmd.OutOrStdout(), "run %d %s: %s..%s, %d obligations, £%s gross\n", r.ID, r.Status, r.Period.From, r.Period.To, len(r.Obligations), ledger.FormatPounds(r.GrossPence))
				}
				return nil
			})
		}}
	c.AddCommand(operation(getOb, "getObligation"), operation(position, "feePosition"), operation(run, "getNettingRun"))
}
