package consensus

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/ledger"
)

var b64url = base64.RawURLEncoding

const expireBatchMax = 64 // holds expired per housekeeping round

// expireLoop: the leader periodically proposes an expire entry for every
// hold past due in ledger time. The ledger also expires holds lazily when
// touched; this makes the listing visible as available again without
// waiting for someone to touch it. Expiry is decided inside the FSM by
// ledger time, never by this clock: a premature proposal is just rejected.
func (n *Node) expireLoop() {
	n.every(n.cfg.ExpireInterval, func() {
		if n.raft.State() != raft.Leader {
			return
		}
		if err := n.expireDue(); err != nil && n.ctx.Err() == nil {
			n.log.Warn("expire due holds", "err", err)
		}
	})
}

func (n *Node) expireDue() error {
	now := n.now().UnixMilli()
	ids, err := n.l.DueHolds(now, expireBatchMax)
	if err != nil {
		return err
	}
	for _, id := range ids {
		// one idempotency id per hold per minute: a retry within the minute
		// is a duplicate; a later round may try again if this one was early
		c, err := ledger.NewCommand(ledger.TypeExpire, fmt.Sprintf("expire-%d-%d", id, now/60000), "raaft-housekeeping", ledger.ReservationPayload{ReservationID: id})
		if err != nil {
			return err
		}
		signed, err := n.cfg.Signer.SignCommand(c)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ForwardTimeout)
		res, err := n.Propose(ctx, signed)
		cancel()
		if err != nil {
			return err
		}
		if !res.Accepted && !res.Duplicate {
			n.log.Debug("expire refused", "reservation", id, "why", res.Rejection)
		}
	}
	return nil
}
