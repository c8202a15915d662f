package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"github.com/raaft/raaft/config"
	"github.com/raaft/raaft/node"
	"os"
	"strconv"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
	"github.com/spf13/cobra"
)

func newGovernanceCmd() *cobra.Command {
	f := &apiFlags{}
	c := &cobra.Command{Use: "governance", Short: "Admit or remove agencies, change policy, register your nodes (operators)",
		Long: `Changes to the federation are proposals that take effect once more than half of the
active agencies have approved them, each approval signed by that agency's node.

  raaft governance propose --action add_agency --record newcomer/agency.json
  raaft governance propose --action remove_agency --agency-id ID
  raaft governance approve PROPOSAL
  raaft governance show PROPOSAL
  raaft governance register-node --id ID --public-key KEY --address HOST:PORT
  raaft governance remove-node ID`}
	f.register(c)
	var action, record, agencyID, kid, policyFile string
	propose := &cobra.Command{Use: "propose", Short: "Open a proposal (your agency's approval is implied)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := ledger.ProposePayload{Action: action, AgencyID: agencyID, KID: kid}
			if record != "" {
				p.Agency = &ledger.AgencyRecord{}
				if err := readJSONFile(record, p.Agency); err != nil {
					return err
				}
			}
			if policyFile != "" {
				p.Policy = &ledger.Policy{}
				if err := readJSONFile(policyFile, p.Policy); err != nil {
					return err
				}
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.Propose(ctx, p, "")
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, []string{"PROPOSAL"}, strconv.FormatUint(r.Seq, 10))
				return nil
			})
		}}
	propose.Flags().StringVar(&action, "action", "", "add_agency, remove_agency, revoke_key or change_policy")
	propose.Flags().StringVar(&record, "record", "", "add_agency: the agency.json written by raaft init")
	propose.Flags().StringVar(&agencyID, "agency-id", "", "remove_agency, revoke_key: the agency")
	propose.Flags().StringVar(&kid, "kid", "", "revoke_key: the key id")
	propose.Flags().StringVar(&policyFile, "policy", "", "change_policy: a JSON policy file")
	proposalID := func(s string) (uint64, error) {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, &exitError{exitUsage, fmt.Errorf("proposal %q: expected a number", s)}
		}
		return id, nil
	}
	approve := &cobra.Command{Use: "approve PROPOSAL", Short: "Approve a proposal for your agency", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := proposalID(args[0])
			if err != nil {
				return err
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.Approve(ctx, id, "")
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, nil)
				return nil
			})
		}}
	show := &cobra.Command{Use: "show PROPOSAL", Short: "A proposal, its approvals and status", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := proposalID(args[0])
			if err != nil {
				return err
			}
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				p, err := cl.Proposal(ctx, id)
				if err != nil {
					return apiErr(err)
				}
				emit(cmd.OutOrStdout(), f, p, []string{"ID", "ACTION", "PROPOSER", "APPROVALS", "STATUS"},
					[][]string{{strconv.FormatUint(p.ID, 10), p.Action, p.Proposer, fmt.Sprint(p.Approvals), p.Status}})
				return nil
			})
		}}
	var node ledger.Node
	reg := &cobra.Command{Use: "register-node", Short: "Register (or re-address) one of your agency's nodes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.RegisterNode(ctx, node, "")
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, nil)
				return nil
			})
		}}
	reg.Flags().StringVar(&node.ID, "id", "", "node id")
	reg.Flags().StringVar(&node.PublicKey, "public-key", "", "the node key's public half (base64url), from agency.json")
	reg.Flags().StringVar(&node.Address, "address", "", "host:port of its QUIC endpoint")
	c.AddCommand(operation(propose, "propose"), operation(approve, "approveProposal"), operation(show, "getProposal"),
		operation(reg, "registerNode"), newRemoveNodeCmd(f), newRotateKeyCmd(f), newNewKeyCmd())
	return c
}

func newRotateKeyCmd(f *apiFlags) *cobra.Command {
	c := &cobra.Command{Use: "rotate-key", Short: "Replace your agency's signing key with the key waiting on the node (see new-key)", Args: cobra.NoArgs,
		Long: `rotate-key asks the node to replace the agency's signing key with the key that new-key left
beside node.agency_key_file (FILE.next). The node signs an agency.rotate_key entry with the
current key; once the federation accepts it, the node signs with the new key, renames FILE.next
over FILE and keeps the old key as FILE.retired-TIME. Writes signed with the old key in the
moment between are refused and can be retried. If the node stopped before it could switch,
running rotate-key again finishes the rotation without a new entry.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.RotateAgencyKey(ctx, "")
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, nil)
				return nil
			})
		}}
	return operation(c, "rotateAgencyKey")
}

func newNewKeyCmd() *cobra.Command {
	var cfgFile string
	c := &cobra.Command{Use: "new-key --config node.yaml", Short: "On the node's host: create the agency key that rotate-key will switch to", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.LoadOptions{File: cfgFile, Flags: cmd.Flags()})
			if err != nil {
				return &exitError{exitUsage, err}
			}
			next := node.KeyFiles{Path: cfg.Node.AgencyKeyFile}.NextPath()
			k, err := node.GenerateKey()
			if err == nil {
				err = node.WriteKeyFile(next, k) // refuses to overwrite a waiting key
			}
			if err != nil {
				return &exitError{exitFailure, err}
			}
			kid, err := ledger.KeyID(k.Public().(ed25519.PublicKey))
			if err != nil {
				return &exitError{exitFailure, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new agency key %s written to %s\nnext: raaft governance rotate-key --node URL --token-file operator.token\n", kid, next)
			return nil
		}}
	c.Flags().StringVar(&cfgFile, "config", "node.yaml", "the node's config")
	return c
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &exitError{exitUsage, fmt.Errorf("%s: %w", path, err)}
	}
	return nil
}

func newRemoveNodeCmd(f *apiFlags) *cobra.Command {
	c := &cobra.Command{Use: "remove-node NODE_ID", Short: "Remove one of your agency's nodes from the registry", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(func(ctx context.Context, cl *protocol.Client) error {
				r, err := cl.RemoveNode(ctx, args[0], "")
				if err != nil {
					return apiErr(err)
				}
				emitWrite(cmd, f, r, nil)
				return nil
			})
		}}
	return operation(c, "removeNode")
}
